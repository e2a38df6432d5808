"""Heartbeat media on asyncio: ucast, bcast, mcast (UDP over IPv4) and serial.

Every transport has the same face (:class:`~hapulse.transports.base.Transport`):
``link`` (the link name Heartbeat reports: the interface, or the serial
device), ``start(on_packet)``, ``send(data)``, ``close()`` and counters.
"""

from __future__ import annotations

from hapulse.config import Medium
from hapulse.transports.base import Counters, OnPacket, Transport
from hapulse.transports.serial import SerialTransport
from hapulse.transports.udp import UdpTransport, broadcast_address

__all__ = ["Counters", "OnPacket", "SerialTransport", "Transport", "UdpTransport",
           "broadcast_address", "make_transport"]


def make_transport(medium: Medium, udpport: int) -> Transport:
    if medium.kind == "serial":
        return SerialTransport(medium)
    return UdpTransport(medium, udpport)
