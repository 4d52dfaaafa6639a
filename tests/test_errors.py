"""The error tree: one base class to catch, small subclasses, FetchError carries the status."""

import pytest

import kb
from kb import errors


@pytest.mark.parametrize(
    "error",
    [
        errors.ConfigError,
        errors.FeedError,
        errors.FetchError,
        errors.BlockedHostError,
        errors.EmbedderError,
        errors.StoreError,
        errors.ModelMismatchError,
    ],
)
def test_every_error_is_a_kb_error_with_a_docstring(error: type[Exception]) -> None:
    assert issubclass(error, kb.KBError)
    assert error.__doc__
    assert error.__doc__.strip()


def test_blocked_host_is_a_fetch_error_and_mismatch_a_store_error() -> None:
    assert issubclass(errors.BlockedHostError, errors.FetchError)
    assert issubclass(errors.ModelMismatchError, errors.StoreError)
    assert not issubclass(errors.FeedError, errors.FetchError)


def test_fetch_error_keeps_its_status() -> None:
    exc = errors.FetchError("HTTP 404 for x", status=404)
    assert exc.status == 404
    assert str(exc) == "HTTP 404 for x"
    assert errors.FetchError("timed out").status is None
