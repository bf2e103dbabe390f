import re


def extract_version(text):
    match = re.search(r"version (\d+)\.(\d+)", text)
    major = int(match.group(1))
    minor = int(match.group(2))
    return major, minor
