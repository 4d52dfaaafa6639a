"""The error tree: one base class to catch, small subclasses, FetchError carries the status, and
the tree drawn in kb.errors' docstring is the real one."""

import importlib
import pkgutil
import re

import pytest

import kb
from kb import errors


def drawn_tree() -> dict[str, str]:
    """Each class the kb.errors docstring draws under KBError, with its drawn parent."""
    lines = (errors.__doc__ or "").splitlines()
    parents: dict[str, str] = {}
    stack = [(-1, "KBError")]  # (column of the branch, class name)
    for line in lines[lines.index("KBError") + 1 :]:
        branch = re.match(r"([ │]*)[├└]── (\w+)", line)
        if branch is None:
            break
        column, name = len(branch.group(1)), branch.group(2)
        while stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1]
        stack.append((column, name))
    return parents


def defined_errors() -> dict[str, type[errors.KBError]]:
    """Every KBError subclass defined in any module of kb, by name."""
    found: dict[str, type[errors.KBError]] = {}
    for module_info in pkgutil.walk_packages(kb.__path__, "kb."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, errors.KBError)
                and value is not errors.KBError
                and value.__module__ == module.__name__
            ):
                assert value.__name__ not in found, f"two error classes named {value.__name__}"
                found[value.__name__] = value
    return found


def test_the_drawn_tree_names_every_error_class_under_its_real_parent() -> None:
    defined = defined_errors()
    assert len(defined) >= 15  # the walk found the classes at all
    real = {name: cls.__bases__[0].__name__ for name, cls in defined.items()}
    assert all(len(cls.__bases__) == 1 for cls in defined.values())
    assert drawn_tree() == real


def test_the_tree_parser_reads_nested_branches() -> None:
    """The parser reads nested branches (the test above must be able to fail)."""
    tree = drawn_tree()
    assert tree["ConfigError"] == "KBError"
    assert tree["BlockedHostError"] == "FetchError"
    assert tree["ModelMismatchError"] == "StoreError"
    assert tree["StoreError"] == "KBError"  # after a nested branch, back at the top level


@pytest.mark.parametrize("error", sorted(defined_errors().values(), key=lambda e: e.__name__))
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
