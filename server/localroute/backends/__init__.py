"""Backends: one module per protocol, chosen by kind in the registry."""
