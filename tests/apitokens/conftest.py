"""The invalid-token counts live in the Django cache, which outlives a test: each test here starts and ends with none
for the addresses it uses (deleting only those keys: with Redis, clearing the cache would flush the task queue)."""

import pytest
from django.core.cache import cache

from apitokens.auth import TokenFailures

ADDRESSES = ("127.0.0.1", "10.0.0.2", "10.0.0.3", "203.0.113.9")


def forget_failures() -> None:
    cache.delete_many([TokenFailures.cache_format % {"scope": TokenFailures.scope, "ident": address}
                       for address in ADDRESSES])


@pytest.fixture(autouse=True)
def _no_token_failures():
    forget_failures()
    yield
    forget_failures()
