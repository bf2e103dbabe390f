def valid_percentage(p):
    """True when p is between 0 and 100 inclusive."""
    return p >= 0 or p <= 100
