"""Random and mutated frames never break the box's IPv6/TCP stack: bad input
is counted and dropped, memory stays bounded, a live connection survives."""
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocols.ccs.net import ipv6, tcp
from firmware.protocols.ccs.net.stack import NC_MAX, TX_MAX
from tests.device.test_protocols_ccs_net import BOX_IP, CAR_IP, handshake, icmp, ip_frame, seg, stack

SAMPLES = [
    seg(1000, 0, tcp.SYN, mss=1440),
    seg(1001, 5, tcp.ACK | tcp.PSH, b"data" * 30),
    ip_frame(ipv6.NH_ICMPV6, icmp(128, b"\x00\x01\x00\x01abcd")),
    ip_frame(ipv6.NH_ICMPV6, icmp(135, bytes(4) + BOX_IP + b"\x01\x01" + bytes(6)), hop=255),
    ip_frame(ipv6.NH_UDP, ipv6.with_checksum(CAR_IP, BOX_IP, ipv6.NH_UDP,
                                             bytearray(b"\x9c\x40\x3b\x0e\x00\x0a\x00\x00\x10\x00"), 6)),
]


@given(st.binary(max_size=300))
@settings(max_examples=400)
def test_random_frames(data):
    s = stack()
    s.receive(data, 0)
    s.receive(b"\x02\xb0\xc5\x00\x00\x01" * 2 + b"\x86\xdd" + data, 0)
    assert len(s.to_send()) <= 1


@given(st.sampled_from(SAMPLES), st.integers(0, 400), st.integers(0, 255), st.integers(14, 400))
@settings(max_examples=800)
def test_mutated_frames(frame, pos, val, cut):
    f = bytearray(frame)
    f[pos % len(f)] = val
    s = stack()
    s.receive(bytes(f[:cut]), 0)
    s.to_send()
    s.events()


@given(st.lists(st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1),
                          st.integers(0, 0x3F), st.binary(max_size=40)), max_size=40))
@settings(max_examples=200)
def test_hostile_segments_on_a_live_connection(segs):
    s = stack()
    cid, snd = handshake(s)
    for seq, ack, flags, data in segs:
        s.receive(seg(seq, ack, flags, data), 1)
        assert len(s.to_send()) <= TX_MAX
    for e in s.events():
        if e[0] == "data":
            assert len(e[2]) <= tcp.RCV_BUF
    c = s.conn(cid)
    if c is not None:
        assert len(c.ooo) <= tcp.OOO_MAX and len(c.sndbuf) <= tcp.SND_BUF
    assert len(s.nc) <= NC_MAX
