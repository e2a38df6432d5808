"""The Message type: ordered typed fields, Heartbeat's accessors."""

from hapulse.wire.message import FieldType, Message


def test_fields_keep_their_order_and_types() -> None:
    m = Message.from_pairs([("t", "status"), ("src", "f801"), ("srcuuid", b"\x01" * 16)])
    assert [f.name for f in m] == ["t", "src", "srcuuid"]
    assert m.field("srcuuid") is not None
    assert m.field("srcuuid").type is FieldType.BINARY  # type: ignore[union-attr]
    assert m["t"] == "status"
    assert m.get("srcuuid") is None  # binary, not a string
    assert m.get_bytes("srcuuid") == b"\x01" * 16


def test_set_replaces_in_place_and_appends_new() -> None:
    m = Message.from_pairs([("t", "status"), ("seq", "1")])
    m.set("seq", "2")
    m.set("ttl", "3")
    assert [(f.name, f.value) for f in m] == [("t", "status"), ("seq", "2"), ("ttl", "3")]


def test_numbers_are_hex() -> None:
    m = Message.from_pairs([("seq", "1b"), ("hg", "zz")])
    assert m.get_int("seq") == 27
    assert m.get_int("hg") is None
    assert m.get_int("missing") is None


def test_missing_field_raises_keyerror() -> None:
    m = Message()
    try:
        m["t"]
    except KeyError as exc:
        assert exc.args == ("t",)
    else:
        raise AssertionError("expected KeyError")


def test_copy_is_independent() -> None:
    m = Message.from_pairs([("t", "status")])
    c = m.copy()
    c.set("t", "other")
    assert m["t"] == "status" and c["t"] == "other"
    assert m != c
