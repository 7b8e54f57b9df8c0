import struct

from pybox.netns.rtnl import NLA_F_NESTED, attr, mac_bytes, nested


def test_attributes_are_padded_to_four_bytes():
    assert attr(3, "eth0") == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0\0\0"
    assert attr(10, 7) == struct.pack("=HHI", 8, 10, 7)
    assert attr(4, b"\1") == struct.pack("=HH", 5, 4) + b"\1\0\0\0"


def test_nested_attributes_carry_the_flag_and_total_length():
    inner = attr(1, "veth")
    assert nested(18, inner) == struct.pack("=HH", 4 + len(inner), 18 | NLA_F_NESTED) + inner


def test_mac_bytes():
    assert mac_bytes("02:42:0a:58:00:02") == bytes([2, 0x42, 10, 0x58, 0, 2])
