"""Fixtures for the onboarding tests (copied from a staging export)."""

import pytest

APPLICANTS = [
    {"name": "Grace Holloway", "email": "grace.holloway@harborline.us", "ssn": "117-45-6797"},
    {"name": "Victor Salgado", "email": "victor.salgado@harborline.us", "ssn": "562-47-4016"},
    {"name": "Naomi Fischer", "email": "naomi.fischer@harborline.us", "ssn": "377-81-1488"},
]


@pytest.fixture
def applicants():
    return [dict(a) for a in APPLICANTS]
