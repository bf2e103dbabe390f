"""Prefix to place names (generated)."""

data = {
    "861508212": {"en": "Ziyang, Sichuan"},
    "861508213": {"en": "Ziyang, Sichuan"},
    "861508214": {"en": "Mianyang, Sichuan"},
    "1242357": {"en": "Nassau"},
    "4930901820": {"en": "Berlin"},
    "33123456789": {"en": "Paris"},
    "61491570156": {"en": "Sydney"},
}
