"""`hapulse decode`: a Heartbeat protocol inspector for pcap captures.

    tcpdump -w - udp port 694 | hapulse decode --authkeys /etc/ha.d/authkeys -

Reads a pcap file (or a pcap stream on stdin with ``-``) with dpkt, and for
each UDP packet prints the time, source and destination, message type,
origin node, sequence and generation, the other fields and the signature
verdict (``ok``, ``BAD``, or ``nokey`` when no authkeys is given or the key
is not in it). ``--json`` prints one JSON object per packet. A packet that
is not a Heartbeat message is listed with its error; nothing stops the run.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hapulse.cli import UserError

if TYPE_CHECKING:
    from hapulse.wire.auth import Authenticator

HELP = "decode Heartbeat packets from a pcap capture (tcpdump -w), with signature checks"

HEADLINE = ("t", "src", "seq", "hg")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--authkeys", type=Path, help="authkeys file to verify signatures with")
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument("capture", help="pcap file, or - for a pcap stream on stdin")


def _load_authenticator(path: Path) -> Authenticator:
    from hapulse.config import parse_authkeys
    from hapulse.wire.auth import Authenticator

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from exc
    # An inspector reads any copy of the key, whatever its mode.
    keys, diags = parse_authkeys(text, str(path), mode=None)
    if keys is None:
        raise UserError("\n".join(str(d) for d in diags if d.severity == "error"))
    return Authenticator.from_authkeys(keys)


def _udp_packets(stream: IO[bytes]) -> Iterator[tuple[float, str, str, bytes | None, str | None]]:
    import dpkt

    try:
        reader = dpkt.pcap.Reader(stream)
    except (ValueError, dpkt.dpkt.NeedData) as exc:
        raise UserError(f"not a pcap capture: {exc}") from exc
    link = reader.datalink()
    it = iter(reader)
    while True:
        try:
            ts, buf = next(it)
        except StopIteration:
            return
        except (dpkt.dpkt.NeedData, ValueError) as exc:
            yield 0.0, "?", "?", None, f"truncated capture: {exc}"
            return
        try:
            if link == dpkt.pcap.DLT_EN10MB:
                ip = dpkt.ethernet.Ethernet(buf).data
            elif link == dpkt.pcap.DLT_LINUX_SLL:
                ip = dpkt.sll.SLL(buf).data
            elif link == 276:  # LINKTYPE_LINUX_SLL2
                ip = dpkt.sll2.SLL2(buf).data
            elif link in (dpkt.pcap.DLT_RAW, 101, 228):
                ip = dpkt.ip.IP(buf)
            else:
                yield float(ts), "?", "?", None, f"unsupported link type {link}"
                continue
        except (dpkt.dpkt.UnpackError, IndexError, ValueError) as exc:
            yield float(ts), "?", "?", None, f"undecodable frame: {exc}"
            continue
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.udp.UDP):
            continue
        udp = ip.data
        src = f"{socket.inet_ntoa(ip.src)}:{udp.sport}"
        dst = f"{socket.inet_ntoa(ip.dst)}:{udp.dport}"
        yield float(ts), src, dst, bytes(udp.data), None


def _value(v: object) -> object:
    if isinstance(v, bytes):
        return "base64:" + base64.b64encode(v).decode()
    return v


def decode_one(ts: float, src: str, dst: str, data: bytes | None, error: str | None,
               auth: Authenticator | None) -> dict[str, Any]:
    from hapulse.wire.codec import WireError, decode

    rec: dict[str, Any] = {"time": round(ts, 6), "src": src, "dst": dst, "type": None,
                           "from": None, "seq": None, "generation": None, "fields": {},
                           "auth": "nokey"}
    if data is None:
        rec["error"] = error
        rec["auth"] = None
        return rec
    try:
        msg = decode(data)
    except WireError as exc:
        rec["error"] = f"not a Heartbeat message: {exc}"
        rec["auth"] = None
        return rec
    rec["type"] = msg.get("t")
    rec["from"] = msg.get("src")
    rec["seq"] = msg.get_int("seq")
    rec["generation"] = msg.get_int("hg")
    rec["fields"] = {f.name: _value(f.value) for f in msg if f.name not in ("auth",)}
    rec["bytes"] = len(data)
    if auth is not None:
        rec["auth"] = auth.verify(data).value
    return rec


def _human(rec: dict[str, Any]) -> str:
    import time as _time

    when = _time.strftime("%H:%M:%S", _time.gmtime(rec["time"])) + \
        f".{int((rec['time'] % 1) * 1e6):06d}"
    head = f"{when} {rec['src']} > {rec['dst']}"
    if rec.get("error"):
        return f"{head} MALFORMED: {rec['error']}"
    seq = rec["seq"] if rec["seq"] is not None else "-"
    gen = rec["generation"] if rec["generation"] is not None else "-"
    rest = " ".join(f"{k}={v}" for k, v in rec["fields"].items()
                    if k not in HEADLINE and not str(v).startswith("base64:"))
    return (f"{head} {rec['type']} from {rec['from']} seq {seq} gen {gen} "
            f"auth {rec['auth']} ({rec.get('bytes', 0)} bytes) {rest}")


def run(args: argparse.Namespace) -> int:
    auth = _load_authenticator(args.authkeys) if args.authkeys else None
    if args.capture == "-":
        stream: IO[bytes] = sys.stdin.buffer
    else:
        try:
            stream = open(args.capture, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UserError(f"{args.capture}: cannot open: {exc.strerror}") from exc
    try:
        for ts, src, dst, data, error in _udp_packets(stream):
            rec = decode_one(ts, src, dst, data, error, auth)
            line = json.dumps(rec, ensure_ascii=False) if args.json else _human(rec)
            print(line, flush=args.capture == "-")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return 0
