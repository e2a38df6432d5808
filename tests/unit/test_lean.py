"""hapulse.lean: a daemon without OpenSSL (about 5 MB less resident), whose signatures
are the same, and whose TLS features still load it when used."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from factories import make_ha_d, solo_ha_cf

from hapulse.wire.auth import Authenticator, Verdict
from hapulse.wire.message import Message

HAPULSE = str(Path(sys.executable).with_name("hapulse"))

PROBE = """
import json, sys
from hapulse.lean import without_openssl, openssl_loaded
without_openssl()
import hapulse.daemon
from hapulse.resources.netlink import iproute_class
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message
with iproute_class()() as ipr:
    ipr.get_links()
out = {"asyncio_tls": __import__("asyncio").base_events.ssl is not None}
packets = {}
for method in ("sha1", "md5"):
    auth = Authenticator(method, 1, b"a shared secret")
    packets[method] = auth.sign_and_encode(Message.from_pairs(
        [("t", "status"), ("st", "active"), ("src", "f801"), ("seq", "1f"), ("hg", "3"),
         ("ts", "5f0a"), ("ld", "0")])).hex()
out["packets"] = packets
out["after_heartbeats"] = openssl_loaded()
import ssl, http.client
ssl.create_default_context()
out["after_tls"] = openssl_loaded()
out["https"] = hasattr(http.client, "HTTPSConnection")
print(json.dumps(out))
"""


def test_heartbeats_without_openssl_are_signed_alike_and_tls_loads_on_use() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    got = json.loads(out)
    assert got["asyncio_tls"] is False  # the loop was imported without TLS
    assert got["after_heartbeats"] is False  # netlink, signing: no OpenSSL module loaded
    assert got["after_tls"] is True and got["https"] is True  # and it loads when used
    for method, packet in got["packets"].items():
        # this interpreter has OpenSSL's digests: the built-in ones signed the same bytes
        auth = Authenticator(method, 1, b"a shared secret")
        assert auth.verify(bytes.fromhex(packet)) is Verdict.OK, method
        assert auth.sign_and_encode(auth.decode_and_verify(bytes.fromhex(packet))) \
            == bytes.fromhex(packet)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_started_daemon_maps_no_openssl(tmp_path: Path) -> None:
    make_ha_d(tmp_path / "ha.d", solo_ha_cf(udpport=free_udp_port()))
    dirs = ["-c", str(tmp_path / "ha.d"), "--state-dir", str(tmp_path / "state"),
            "--run-dir", str(tmp_path / "run"), "--node", "solo"]
    r = subprocess.run([HAPULSE, "start", *dirs], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int(r.stdout.split("pid ")[1].split(")")[0])
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
        libs = {line.split()[-1] for line in maps.splitlines() if ".so" in line}
        assert not [lib for lib in libs if "libcrypto" in lib or "libssl" in lib], libs
        assert any("python" in lib or "libc.so" in lib for lib in libs)  # the maps were read
    finally:
        stop = subprocess.run([HAPULSE, "stop", *dirs], capture_output=True, text=True,
                              timeout=60)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text()


def test_signatures_agree_with_openssl_in_this_interpreter() -> None:
    """The same check the other way: signed here (OpenSSL), verified in a lean process."""
    auth = Authenticator("sha1", 1, b"a shared secret")
    packet = auth.sign_and_encode(Message.from_pairs(
        [("t", "status"), ("st", "active"), ("src", "f802"), ("seq", "2")]))
    probe = ("import sys\nfrom hapulse.lean import without_openssl, openssl_loaded\n"
             "without_openssl()\nfrom hapulse.wire.auth import Authenticator\n"
             "a = Authenticator('sha1', 1, b'a shared secret')\n"
             f"print(a.verify(bytes.fromhex({packet.hex()!r})).name, openssl_loaded())\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["OK", "False"]
