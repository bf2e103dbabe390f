def count_lines(path):
    handle = open(path)
    count = 0
    for _ in handle:
        count += 1
    return count
