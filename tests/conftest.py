"""Markers that skip, and the seed's topology as a fixture.

The declared markers do the skipping: a test marked ``netns`` is skipped
when this machine cannot make network namespaces (not root, no ``ip`` or
``unshare``), one marked ``interop`` when Debian's Heartbeat 3.0.6 is not
installed. Every test under ``tests/netns`` carries ``netns`` and every
test under ``tests/interop`` both markers, whether or not its module says
so, so that no namespace test escapes the skip or a ``-m`` selection.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import lab_prefix

from hapulse.lab import Lab, netns_ok, seed_lab
from hapulse.lab.heartbeat import available as heartbeat_available

TESTS = Path(__file__).resolve().parent
BY_DIRECTORY = {"netns": ("netns",), "interop": ("netns", "interop")}


def _suite(item: pytest.Item) -> str:
    try:
        return item.path.resolve().relative_to(TESTS).parts[0]
    except ValueError:
        return ""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in BY_DIRECTORY.get(_suite(item), ()):
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)
    why = {"netns": netns_ok(),
           "interop": None if heartbeat_available() else "needs Debian's heartbeat package"}
    for item in items:
        for marker, reason in why.items():
            if reason and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The seed's topology (f801, f802, client), torn down by name and PID."""
    if request.node.get_closest_marker("netns") is None:
        pytest.fail("a test using the `seed` lab must be marked netns")
    lab = seed_lab(lab_prefix(request.node.name))
    try:
        yield lab
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)


@pytest.fixture
def lab_plugin() -> Iterator[Path]:
    """cluster-glue's external/hapulse-lab STONITH plugin, installed where the `stonith`
    tool looks for it (and removed again if this test put it there)."""
    from hapulse.resources.stonith import (
        EXTERNAL_PLUGIN_DIR,
        STONITH_TOOL,
        install_external_plugin,
    )

    if os.geteuid() != 0 or not Path(STONITH_TOOL).exists():
        pytest.skip("needs root and cluster-glue's stonith")
    target = EXTERNAL_PLUGIN_DIR / "hapulse-lab"
    existed = target.exists()
    install_external_plugin()
    try:
        yield target
    finally:
        if not existed:
            target.unlink(missing_ok=True)
