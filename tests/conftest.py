"""Fixtures for the network-namespace tests: the seed's topology, torn down by name."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator

import pytest

from hapulse.lab import Lab, seed_lab
from hapulse.lab.nodes import netns_ok


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> Iterator[Lab]:
    why = netns_ok()
    if why:
        pytest.skip(why)
    prefix = "hpt" + str(zlib.crc32(request.node.name.encode()) % 10**6)
    lab = seed_lab(prefix)
    try:
        yield lab
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)
