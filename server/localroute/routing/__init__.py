"""Routing: the decision (router) and what is known of availability (health)."""
