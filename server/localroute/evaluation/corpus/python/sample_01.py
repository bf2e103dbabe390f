def pairwise_sums(values):
    """The sum of each value and the one after it."""
    sums = []
    for i in range(len(values)):
        sums.append(values[i] + values[i + 1])
    return sums
