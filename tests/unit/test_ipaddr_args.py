"""IPaddr/IPaddr2 haresources arguments, read as Heartbeat's agents read them."""

from __future__ import annotations

import pytest

from hapulse.config import parse_haresources
from hapulse.config.haresources import check_ip_arg
from hapulse.config.ipaddr_arg import (
    IPaddrArg,
    IPaddrArgError,
    ipaddr_arg_from_params,
    netmask_bits,
    parse_ipaddr_arg,
)


@pytest.mark.parametrize("arg, expected", [
    ("192.168.1.118", IPaddrArg("192.168.1.118")),
    ("192.168.1.118/24", IPaddrArg("192.168.1.118", 24)),
    ("192.168.1.118/24/eth0", IPaddrArg("192.168.1.118", 24, "eth0")),
    ("192.168.1.118/24/eth0/192.168.1.255",
     IPaddrArg("192.168.1.118", 24, "eth0", broadcast="192.168.1.255")),
    # the form from Heartbeat's haresources docs: ADDR/BITS/BROADCAST
    ("135.9.216.3/28/135.9.216.12", IPaddrArg("135.9.216.3", 28, broadcast="135.9.216.12")),
    # dotted netmask (resource-agents' findif converts it to bits)
    ("192.168.88.140/255.255.255.0",
     IPaddrArg("192.168.88.140", 24, dotted_netmask="255.255.255.0")),
    ("10.1.2.3/255.255.240.0/eth1",
     IPaddrArg("10.1.2.3", 20, "eth1", dotted_netmask="255.255.240.0")),
    # empty fields are skipped; an alias interface is the base device plus a label
    ("10.0.30.15//8/eth0:10", IPaddrArg("10.0.30.15", 8, "eth0", "eth0:10")),
    ("192.168.2.250/24/eth0:1/", IPaddrArg("192.168.2.250", 24, "eth0", "eth0:1")),
    ("192.168.123.119/24/eth0:0", IPaddrArg("192.168.123.119", 24, "eth0", "eth0:0")),
    ("172.16.1.200/24//eth0:1", IPaddrArg("172.16.1.200", 24, "eth0", "eth0:1")),
    ("202.102.154.41/24/eth0/202.102.154.255",
     IPaddrArg("202.102.154.41", 24, "eth0", broadcast="202.102.154.255")),
    ("10.0.0.5/32/ens33:web", IPaddrArg("10.0.0.5", 32, "ens33", "ens33:web")),
    # what follows the broadcast address is ignored, as Heartbeat ignores it
    ("10.0.0.5/24/eth0/10.0.0.255/x", IPaddrArg("10.0.0.5", 24, "eth0",
                                                broadcast="10.0.0.255", ignored=("x",))),
    ("10.0.0.5/24/10.0.0.255/eth9", IPaddrArg("10.0.0.5", 24, broadcast="10.0.0.255",
                                              ignored=("eth9",))),
])
def test_forms(arg: str, expected: IPaddrArg) -> None:
    assert parse_ipaddr_arg(arg) == expected
    assert check_ip_arg(arg) is None


@pytest.mark.parametrize("arg, words", [
    ("virtual_ip/24", "not a valid IPv4 address"),
    ("256.1.1.1", "not a valid IPv4 address"),
    ("0.1.2.3/8", "not a usable IPv4 address"),
    ("10.0.0.1/33", "not a prefix length 1..32"),
    ("10.0.0.1/0", "not a prefix length 1..32"),
    ("10.0.0.1/255.0.255.0", "not a contiguous dotted netmask"),
    ("10.0.0.1/0.0.0.0", "not a contiguous dotted netmask"),
    ("10.0.0.1/255.255.255.256", "not a contiguous dotted netmask"),
    # Heartbeat's wrapper reads `eth0` as the netmask here, and its agent fails
    ("10.0.0.1//eth0", "the netmask comes before the interface"),
    ("10.0.0.1/eth0", "the netmask comes before the interface"),
    ("10.0.0.1/24/eth0:", "alias label"),
    ("10.0.0.1/24/enp0s31f6:long12", "at most 15 characters"),
    ("10.0.0.1/24/eth0/10.0.0.300", "broadcast `10.0.0.300` is not a valid IPv4 address"),
    ("10.0.0.1/24/eth 0", "not an interface name"),
])
def test_refused(arg: str, words: str) -> None:
    with pytest.raises(IPaddrArgError, match=words.replace(".", r"\.")):
        parse_ipaddr_arg(arg)
    problem = check_ip_arg(arg)
    assert problem is not None and words in problem


@pytest.mark.parametrize("mask, bits", [
    ("255.255.255.255", 32), ("255.255.255.254", 31), ("255.255.255.0", 24),
    ("255.255.0.0", 16), ("255.0.0.0", 8), ("128.0.0.0", 1), ("8", 8), ("32", 32),
])
def test_netmask_bits(mask: str, bits: int) -> None:
    assert netmask_bits(mask)[0] == bits


def test_default_broadcast_is_the_subnets_last_address() -> None:
    arg = parse_ipaddr_arg("192.168.1.118/24")
    assert arg.default_broadcast(24) == "192.168.1.255"
    assert arg.default_broadcast(20) == "192.168.15.255"
    assert arg.default_broadcast(31) is None and arg.default_broadcast(32) is None


def test_haresources_accepts_every_form_without_warning() -> None:
    text = ("n1 IPaddr::192.168.88.140/255.255.255.0 IPaddr2::10.0.30.15//8/eth0:10 "
            "192.168.1.118/24/eth0/192.168.1.255 IPaddr::135.9.216.3/28/135.9.216.12\n")
    groups, diags = parse_haresources(text, "haresources", ["n1"])
    assert diags == []
    assert [r.text for r in groups[0].resources] == text.split()[1:]


def test_haresources_warns_on_bad_and_ignored_fields() -> None:
    text = "n1 IPaddr::10.0.0.1//eth0 IPaddr::10.0.0.2/24/eth0/10.0.0.255/junk\n"
    _, diags = parse_haresources(text, "haresources", ["n1"])
    assert [(d.severity, d.code) for d in diags] == [
        ("warning", "bad-resource"), ("warning", "ignored-ip-fields")]
    assert "netmask comes before the interface" in diags[0].message
    assert "`junk`" in diags[1].message


@pytest.mark.parametrize("params, expected", [
    ({"ip": "10.0.0.5", "cidr_netmask": "24", "nic": "eth0"}, IPaddrArg("10.0.0.5", 24, "eth0")),
    ({"ip": "10.0.0.5", "nic": "eth0"}, IPaddrArg("10.0.0.5", None, "eth0")),
    ({"ip": "10.0.0.5", "netmask": "255.255.0.0"},
     IPaddrArg("10.0.0.5", 16, dotted_netmask="255.255.0.0")),
    ({"ip": "10.0.0.5", "nic": "eth0", "iflabel": "vip", "broadcast": "10.0.0.127"},
     IPaddrArg("10.0.0.5", None, "eth0", "eth0:vip", "10.0.0.127")),
    ({"ip": "10.0.0.5", "nic": "eth0:1"}, IPaddrArg("10.0.0.5", None, "eth0", "eth0:1")),
])
def test_ocf_params(params: dict[str, str], expected: IPaddrArg) -> None:
    assert ipaddr_arg_from_params(params) == expected


def test_ocf_params_refused() -> None:
    with pytest.raises(IPaddrArgError, match="ip `` is not a valid IPv4 address"):
        ipaddr_arg_from_params({"nic": "eth0"})
