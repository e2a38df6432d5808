"""pyroute2's rtnetlink socket, without the rest of pyroute2.

``import pyroute2`` runs the package's ``__init__``, which imports every
netlink family the library speaks (ndb, ipdb, conntrack, ethtool, nl80211,
wireguard, ipvs, ...): about 8 MB of a daemon's resident memory and 0.2 s at
start. hapulse needs one class of it, ``pyroute2.iproute.linux.IPRoute``
(addresses and links over rtnetlink). :func:`iproute_class` imports that module
alone: the two packages on its path (``pyroute2`` and ``pyroute2.iproute``)
are entered as plain namespace modules pointing at the installed package, so
their ``__init__`` files do not run; the modules IPRoute itself imports load as
usual (about 2.6 MB).

Nothing else changes for code that wants the whole library: the first access
to a name the slim package does not have (``from pyroute2 import NDB``) runs
the real ``__init__`` in place, and if pyroute2 was already imported in full,
that is what is used. If the layout ever differs from the pinned version's
(pyproject.toml), the full import is the fallback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyroute2 import IPRoute

_PACKAGES = ("pyroute2", "pyroute2.iproute")


class _SlimPackage(types.ModuleType):
    """A package whose __init__ runs on first use of a name it lacks."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        spec = self.__spec__
        if spec is None or spec.loader is None or self.__dict__.get("_hapulse_full"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            return importlib.import_module(f"{self.__name__}.{name}")  # a submodule
        self.__dict__["_hapulse_full"] = True
        spec.loader.exec_module(self)  # the package's real __init__, in this module
        return self.__dict__[name] if name in self.__dict__ else super().__getattribute__(name)


def _slim(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"no package {name}")
    pkg = _SlimPackage(name)
    pkg.__spec__ = spec
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__ = spec.origin
    pkg.__package__ = name
    sys.modules[name] = pkg


def iproute_class() -> type[IPRoute]:
    """pyroute2's IPRoute, importing no more of pyroute2 than it needs."""
    try:
        for name in _PACKAGES:
            _slim(name)
        module = importlib.import_module("pyroute2.iproute.linux")
        cls = module.IPRoute
        if not isinstance(cls, type):
            raise ImportError("pyroute2.iproute.linux.IPRoute is not a class")
        return cls
    except (ImportError, AttributeError):  # another layout: the whole library
        for name in _PACKAGES:
            if isinstance(sys.modules.get(name), _SlimPackage):
                del sys.modules[name]
        from pyroute2 import IPRoute as full

        whole: type[IPRoute] = full
        return whole
