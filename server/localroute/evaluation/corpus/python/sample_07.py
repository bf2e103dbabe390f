def add_tag(tag, tags=[]):
    """Return the tags with tag appended."""
    tags.append(tag)
    return tags
