"""Fault injection: a loopback proxy and scripted backends that break in every way we know."""
