"""resources.netlink: pyroute2's IPRoute without the rest of the library, in a fresh
interpreter (what the daemon loads), and the whole library still there for who asks."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from hapulse.resources.netlink import iproute_class
cls = iproute_class()
with cls() as ipr:
    links = [l.get_attr("IFLA_IFNAME") for l in ipr.get_links()]
loaded = sorted(m for m in sys.modules if m.startswith("pyroute2."))
slim = {"links": links, "cls": cls.__module__ + "." + cls.__name__,
        "heavy": [m for m in loaded if m.split(".")[1] in ("ndb", "ipdb", "conntrack",
                                                            "ethtool", "ipset", "nslink")]}
from pyroute2 import NDB, IPRoute  # the whole library, on demand
slim["full"] = [NDB.__name__, IPRoute.__name__, "pyroute2.ndb.main" in sys.modules]
print(json.dumps(slim))
"""


def test_iproute_alone_then_the_whole_library_on_demand() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    got = json.loads(out)
    assert "lo" in got["links"]  # a working rtnetlink socket
    assert got["cls"] == "pyroute2.iproute.linux.IPRoute"
    assert got["heavy"] == []  # none of the families hapulse does not use
    assert got["full"] == ["NDB", "IPRoute", True]
