"""Keep OpenSSL out of a daemon that does no TLS.

A Python process that imports ``asyncio`` loads OpenSSL: ``asyncio`` imports
``ssl`` (which maps libssl and libcrypto), and ``hmac``/``hashlib`` load
``_hashlib`` (libcrypto again). On this project's machines that is about 5 MB
of the daemon's resident memory, for TLS a heartbeat daemon does not do and
for digests the interpreter also has built in (``_md5``, ``_sha1``: Heartbeat's
``md5`` and ``sha1`` signatures come out byte-for-byte the same).

:func:`without_openssl` runs first thing in ``hapulse start --foreground``:

- ``asyncio`` is imported while ``ssl`` cannot be, so it takes itself for a
  build without TLS (the daemon's loop never does TLS);
- ``ssl`` is then a stand-in module: a module that imports it without using it
  (pyroute2's ``probe_msg`` does) costs nothing, and the first attribute read
  imports the real one and forwards to it: an ``https`` monitor (its request
  runs in a worker thread with ``http.client``) or the Prometheus exporter
  (``prometheus_client`` uses ``ssl`` as it is imported);
- ``_hashlib`` cannot be imported, so ``hashlib`` uses the built-in digests.

Any other process (the CLI, the tests) is left as Python made it.

The price: a built-in SHA-1 HMAC is about 1 µs slower than OpenSSL's, once per
signed or verified heartbeat.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_loading = threading.Lock()


class DeferredSSL(types.ModuleType):
    """Stands for ``ssl`` until an attribute is read: then the real module is imported
    (OpenSSL loaded), put in ``sys.modules`` and every later read forwarded to it."""

    def __init__(self) -> None:
        super().__init__("ssl", "the ssl module, imported on its first use (hapulse.lean)")
        self.__real: types.ModuleType | None = None

    def __getattr__(self, name: str) -> Any:  # only for names this module does not have
        if name.startswith("_DeferredSSL__"):
            raise AttributeError(name)
        with _loading:
            if self.__real is None:
                if sys.modules.get("ssl") is self:
                    del sys.modules["ssl"]
                self.__real = importlib.import_module("ssl")
        return getattr(self.__real, name)


def without_openssl() -> None:
    """Import ``asyncio`` without TLS, make ``ssl`` deferred and ``_hashlib`` unimportable;
    nothing is done if ``asyncio``, ``ssl`` or ``hashlib`` was imported already."""
    if any(name in sys.modules for name in ("asyncio", "ssl", "hashlib", "_hashlib")):
        return
    if importlib.util.find_spec("_md5") and importlib.util.find_spec("_sha1"):
        sys.modules["_hashlib"] = None  # type: ignore[assignment]  # hashlib: built-in digests
    # else a Python built without them (a FIPS build): OpenSSL's digests stay
    sys.modules["ssl"] = None  # type: ignore[assignment]  # asyncio: no TLS
    try:
        import asyncio  # noqa: F401
    finally:
        sys.modules["ssl"] = DeferredSSL()


def openssl_loaded() -> bool:
    """Whether OpenSSL's modules are in this process (``_ssl`` or ``_hashlib``)."""
    return any(sys.modules.get(name) is not None for name in ("_ssl", "_hashlib"))
