"""Test order for ``make test``'s parallel run (pytest-xdist, ``--dist load``).

xdist first sends each worker two tests, in collection order, then more as they finish. Left
in collection order, the few tests that take a minute or more (``@pytest.mark.long(seconds=...)``:
the chaos run, the minute-bound schedule test, the demo...) start late and run on after every
short test is done. Here they go to the front, longest first, each followed by a short test,
so each worker starts on one at once and the short tests fill in around them. Only the order
changes, never what runs.
"""

from __future__ import annotations

import pytest


def expected_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.kwargs.get("seconds", 60)) if marker else 0.0


def long_tests_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` with the long tests first (longest first), each followed by a short one."""
    long = sorted((item for item in items if expected_seconds(item)), key=expected_seconds, reverse=True)
    short = [item for item in items if not expected_seconds(item)]
    ordered: list[pytest.Item] = []
    for item in long:
        ordered.append(item)
        if short:
            ordered.append(short.pop(0))
    return ordered + short


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("numprocesses", None):
        items[:] = long_tests_first(items)
