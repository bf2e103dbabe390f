def drop_negatives(numbers):
    """Remove every negative number from the list."""
    for n in numbers:
        if n < 0:
            numbers.remove(n)
    return numbers
