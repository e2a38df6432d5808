"""Fixtures for the network-namespace tests: the seed's topology, torn down by name."""

from __future__ import annotations

import os
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
    # the pid keeps two test runs on one machine (a developer's and CI's) apart
    prefix = f"hpt{os.getpid()}-{zlib.crc32(request.node.name.encode()) % 10**4}"
    lab = seed_lab(prefix)
    try:
        yield lab
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)
