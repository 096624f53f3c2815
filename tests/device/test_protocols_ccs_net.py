"""The box's own IPv6/ND/ICMPv6/UDP/TCP stack, sans-IO, on simulated time:
CPython and MicroPython. The Linux-kernel interop is tests/ccs_link/test_net_kernel.py."""
import firmware  # noqa: F401
from firmware.protocols.ccs.net import ipv6, tcp
from firmware.protocols.ccs.net.stack import NS_INTERVAL, NS_RETRIES, Stack

BOX = b"\x02\xb0\xc5\x00\x00\x01"
CAR = b"\x02\xee\x00\x00\x00\x02"
CAR_IP = ipv6.link_local_from_mac(CAR)
BOX_IP = ipv6.link_local_from_mac(BOX)
PORT = 50000


def rng(n):
    return bytes((0x10 + i for i in range(n)))


def stack():
    s = Stack(BOX, rng)
    s.bind_udp(15118)
    s.listen(PORT)
    return s


def ip_frame(nh, payload, dst=BOX_IP, hop=64, src=CAR_IP, dst_mac=BOX):
    return bytes(ipv6.frame(dst_mac, CAR, src, dst, nh, payload, hop))


def icmp(t, body, dst=BOX_IP, src=CAR_IP, code=0):
    m = bytearray(4 + len(body))
    m[0] = t
    m[1] = code
    m[4:] = body
    return ipv6.with_checksum(src, dst, ipv6.NH_ICMPV6, m, 2)


def seg(seq, ack, flags, data=b"", mss=0, wnd=8192, sport=40000):
    return ip_frame(ipv6.NH_TCP, tcp.build(CAR_IP, BOX_IP, sport, PORT, seq, ack, flags, wnd, data, mss))


def parse_out(frames):
    out = []
    for f in frames:
        smac, src, dst, nh, hop, p = ipv6.parse(f)
        out.append((bytes(f[0:6]), dst, nh, hop, bytes(p)))
    return out


def tcp_out(s, now=0):
    res = []
    for dmac, dst, nh, hop, p in parse_out(s.to_send(now)):
        assert nh == ipv6.NH_TCP and dmac == CAR
        res.append(tcp.parse(BOX_IP, dst, memoryview(p)))
    return res


def handshake(s, isn=1000, now=0):
    s.receive(seg(isn, 0, tcp.SYN, mss=1440), now)
    sa = tcp_out(s, now)
    assert len(sa) == 1 and sa[0].flags == tcp.SYN | tcp.ACK and sa[0].ack == isn + 1
    assert sa[0].mss == tcp.MSS
    s.receive(seg(isn + 1, sa[0].seq + 1, tcp.ACK), now)
    ev = s.events()
    assert ev[0][0] == "connected" and ev[0][2] == PORT
    return ev[0][1], sa[0].seq + 1


def test_addresses():
    assert ipv6.fmt(BOX_IP) == "fe80::b0:c5ff:fe00:1"
    assert ipv6.fmt(ipv6.solicited_node(BOX_IP)) == "ff02::1:ff00:1"
    assert ipv6.multicast_mac(ipv6.ALL_NODES) == b"\x33\x33\x00\x00\x00\x01"


def test_checksum_roundtrip_and_rfc1071_example():
    # RFC 1071 section 3 worked bytes: 00 01 f2 03 f4 f5 f6 f7 -> one's-complement sum 0xddf2
    data = b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7"
    zero = bytes(16)
    assert ipv6.checksum(zero, zero, 0, data) == (~(0xDDF2 + 8)) & 0xFFFF
    m = icmp(128, b"\x00\x01\x00\x02hello")
    assert ipv6.checksum(CAR_IP, BOX_IP, ipv6.NH_ICMPV6, m) == 0


def test_neighbour_solicitation_gets_advertisement():
    s = stack()
    body = bytes(4) + BOX_IP + bytes((1, 1)) + CAR
    s.receive(ip_frame(ipv6.NH_ICMPV6, icmp(135, body, dst=ipv6.solicited_node(BOX_IP)),
                       dst=ipv6.solicited_node(BOX_IP), hop=255, dst_mac=b"\x33\x33\xff\x00\x00\x01"), 0)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert dmac == CAR and dst == CAR_IP and hop == 255 and p[0] == 136
    assert p[4] & 0x60 == 0x60 and p[8:24] == BOX_IP and p[24:32] == b"\x02\x01" + BOX
    assert s.nc[CAR_IP] == CAR


def test_nd_validation_and_dad_defence():
    s = stack()
    body = bytes(4) + BOX_IP
    s.receive(ip_frame(ipv6.NH_ICMPV6, icmp(135, body), hop=64), 0)     # hop limit must be 255
    assert s.counters["nd_bad"] == 1 and s.to_send() == []
    sn = ipv6.solicited_node(BOX_IP)
    s.receive(ip_frame(ipv6.NH_ICMPV6, icmp(135, body, dst=sn, src=ipv6.UNSPECIFIED), dst=sn, hop=255,
                       src=ipv6.UNSPECIFIED), 0)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert dst == ipv6.ALL_NODES and p[0] == 136 and p[4] & 0x40 == 0   # unsolicited, defends the address


def test_echo_and_counted_garbage():
    s = stack()
    s.receive(ip_frame(ipv6.NH_ICMPV6, icmp(128, b"\x12\x34\x00\x01" + b"ping" * 10)), 0)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert p[0] == 129 and p[4:] == b"\x12\x34\x00\x01" + b"ping" * 10 and dst == CAR_IP
    bad = bytearray(ip_frame(ipv6.NH_ICMPV6, icmp(128, b"\x00" * 8)))
    bad[-1] ^= 0xFF
    s.receive(bytes(bad), 0)
    s.receive(b"\x00" * 20, 0)
    s.receive(BOX + CAR + b"\x86\xdd" + b"\x40" + bytes(50), 0)
    trunc = bytearray(ip_frame(ipv6.NH_UDP, b"\x00" * 8))
    trunc[19] = 200
    s.receive(bytes(trunc), 0)
    frag = ip_frame(44, bytes(16))
    s.receive(frag, 0)
    c = s.counters
    assert c["checksum"] == 1 and c["version"] == 1 and c["short"] == 1 and c["fragment"] == 1
    assert s.to_send() == []


def test_udp_sdp_delivery_and_checks():
    s = stack()
    u = bytearray(10)
    u[0:2] = b"\x9c\x40"
    u[2:4] = b"\x3b\x0e"            # 40000 -> 15118
    u[4:6] = b"\x00\x0a"
    u[8:10] = b"\x10\x00"
    ipv6.with_checksum(CAR_IP, ipv6.ALL_NODES, ipv6.NH_UDP, u, 6)
    s.receive(ip_frame(ipv6.NH_UDP, bytes(u), dst=ipv6.ALL_NODES, hop=1, dst_mac=b"\x33\x33\x00\x00\x00\x01"), 0)
    assert s.events() == [("udp", 15118, (CAR_IP, 40000), b"\x10\x00")]
    u[9] ^= 1
    s.receive(ip_frame(ipv6.NH_UDP, bytes(u), dst=ipv6.ALL_NODES, dst_mac=b"\x33\x33\x00\x00\x00\x01"), 0)
    assert s.counters["checksum"] == 1 and s.events() == []
    s.send_udp(15118, CAR_IP, 40000, b"answer", 0)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert dmac == CAR and nh == ipv6.NH_UDP and p[8:] == b"answer"
    assert ipv6.checksum(BOX_IP, CAR_IP, ipv6.NH_UDP, p) == 0


def test_unknown_neighbour_is_solicited_then_given_up():
    s = stack()
    other = ipv6.link_local_from_mac(b"\x02\x00\x00\x00\x00\x07")
    s.send_udp(15118, other, 1234, b"x", 0)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert dst == ipv6.solicited_node(other) and p[0] == 135 and hop == 255 and p[8:24] == other
    now = 0
    for _ in range(NS_RETRIES - 1):
        now = s.next_timer()
        s.handle_timer(now)
        assert parse_out(s.to_send())[0][4][0] == 135
    s.handle_timer(s.next_timer())
    assert s.counters["nd_unresolved"] == 1 and s.next_timer() is None
    assert now == (NS_RETRIES - 1) * NS_INTERVAL


def test_parked_packet_leaves_on_the_advertisement():
    s = stack()
    s.send_udp(15118, CAR_IP, 40000, b"parked", 0)
    assert parse_out(s.to_send())[0][4][0] == 135
    na = bytes((0x60, 0, 0, 0)) + CAR_IP + bytes((2, 1)) + CAR
    s.receive(ip_frame(ipv6.NH_ICMPV6, icmp(136, na), hop=255), 5)
    (dmac, dst, nh, hop, p), = parse_out(s.to_send())
    assert dmac == CAR and p[8:] == b"parked"


def test_tcp_handshake_data_both_ways_and_close():
    s = stack()
    cid, snd = handshake(s)
    s.receive(seg(1001, snd, tcp.ACK | tcp.PSH, b"hello"), 1)
    assert s.events() == [("data", cid, b"hello")]
    a = tcp_out(s)
    assert a[-1].ack == 1006
    assert s.tcp_send(cid, b"x" * 3000, 2)
    out = tcp_out(s)
    assert [len(o.data) for o in out] == [1220, 1220, 560]     # min(our MSS, the car's 1440)
    s.receive(seg(1006, snd + 3000, tcp.ACK), 3)
    assert s.next_timer() is None
    s.receive(seg(1006, snd + 3000, tcp.ACK | tcp.FIN), 4)
    ev = s.events()
    assert ev == [("closed", cid, "peer closed")]
    out = tcp_out(s)
    assert out[0].ack == 1007 and out[-1].flags & tcp.FIN
    s.receive(seg(1007, snd + 3001, tcp.ACK), 5)
    s.events()
    assert s.conns == {}


def test_tcp_duplicates_out_of_window_and_reordering():
    s = stack()
    cid, snd = handshake(s)
    s.receive(seg(1001, snd, tcp.ACK, b"AAAA"), 1)
    s.receive(seg(1001, snd, tcp.ACK, b"AAAA"), 2)            # duplicate
    s.receive(seg(900000, snd, tcp.ACK, b"far"), 3)           # out of window
    s.receive(seg(1009, snd, tcp.ACK, b"CCCC"), 4)            # hole at 1005
    s.receive(seg(1013, snd, tcp.ACK, b"DDDD"), 4)
    s.receive(seg(1005, snd, tcp.ACK, b"BBBB"), 5)            # fills the hole
    data = b"".join(e[2] for e in s.events() if e[0] == "data")
    assert data == b"AAAABBBBCCCCDDDD"
    acks = [o.ack for o in tcp_out(s)]
    assert acks[-1] == 1017 and acks.count(1005) >= 3          # dup ACKs told the car about the hole
    c = s.counters
    assert c["tcp_dup"] == 1 and c["tcp_out_of_window"] == 1 and c["tcp_ooo"] == 2


def test_tcp_retransmission_backoff_and_give_up():
    s = stack()
    cid, snd = handshake(s)
    s.tcp_send(cid, b"request", 0)
    tcp_out(s)
    times = []
    while True:
        t = s.next_timer()
        if t is None:
            break
        s.handle_timer(t)
        out = tcp_out(s, t)
        times.append(t)
        if out and out[-1].flags & tcp.RST:
            break
    gaps = [b - a for a, b in zip([0] + times, times)]
    assert gaps[0] == tcp.RTO_INIT and gaps[1] == 2 * tcp.RTO_INIT and gaps[2] == tcp.RTO_MAX
    assert len(times) == tcp.MAX_RETRIES + 1
    assert s.events() == [("closed", cid, "retransmission timeout")]
    assert s.counters["tcp_retransmits"] == tcp.MAX_RETRIES


def test_tcp_recovers_after_dropout():
    s = stack()
    cid, snd = handshake(s)
    s.tcp_send(cid, b"response", 0)
    first = tcp_out(s)[0]
    for _ in range(3):                                       # 1 s, 2 s, 4 s of silence
        t = s.next_timer()
        s.handle_timer(t)
        again = tcp_out(s, t)
        assert again[0].seq == first.seq and again[0].data == b"response"
    s.receive(seg(1001, snd + 8, tcp.ACK), t + 10)
    assert s.next_timer() is None and s.events() == []


def test_tcp_repeated_syn_rst_and_connection_limit():
    s = stack()
    s.receive(seg(5000, 0, tcp.SYN, mss=1000), 0)
    a = tcp_out(s)[0]
    s.receive(seg(5000, 0, tcp.SYN, mss=1000), 1)            # SYN-ACK lost: same answer
    b = tcp_out(s)[0]
    assert a.seq == b.seq and b.flags == tcp.SYN | tcp.ACK
    s.receive(seg(5001, a.seq + 1, tcp.ACK), 2)
    cid = s.events()[0][1]
    s.receive(seg(5001, a.seq + 1, tcp.RST), 3)
    assert s.events() == [("closed", cid, "reset by peer")]
    for i in range(6):
        s.receive(seg(100 * i, 0, tcp.SYN, sport=41000 + i), 4)
    outs = tcp_out(s)
    assert sum(1 for o in outs if o.flags & tcp.RST) == 2 and s.counters["tcp_conn_limit"] == 2
    s.receive(seg(1, 1, tcp.ACK, sport=42000), 5)             # no such connection
    assert tcp_out(s)[0].flags & tcp.RST and s.counters["tcp_no_conn"] == 1


def test_tcp_bad_options_and_checksum_counted():
    s = stack()
    t = bytearray(tcp.build(CAR_IP, BOX_IP, 40000, PORT, 1, 0, tcp.SYN, 8192, b"", 1440))
    t[21] = 9                                                  # MSS option length 9
    ipv6.with_checksum(CAR_IP, BOX_IP, ipv6.NH_TCP, t, 16)
    s.receive(ip_frame(ipv6.NH_TCP, bytes(t)), 0)
    t2 = bytearray(tcp.build(CAR_IP, BOX_IP, 40000, PORT, 1, 0, tcp.SYN, 8192))
    t2[5] ^= 1
    s.receive(ip_frame(ipv6.NH_TCP, bytes(t2)), 0)
    assert s.counters["tcp_option"] == 1 and s.counters["checksum"] == 1 and s.to_send() == []


def test_window_closes_while_the_app_lags_and_reopens_with_an_update():
    s = stack()
    cid, snd = handshake(s)
    seq = 1001
    for _ in range(7):                                     # 7 x 1220 bytes > RCV_BUF, no events() taken
        s.receive(seg(seq, snd, tcp.ACK, b"z" * 1220), 1)
        seq += 1220
    acks = tcp_out(s)
    assert acks[-1].wnd < tcp.RCV_BUF // 2
    assert sum(len(e[2]) for e in s.events() if e[0] == "data") == tcp.RCV_BUF   # the rest was cut at the window
    upd = tcp_out(s)
    assert upd and upd[-1].wnd == tcp.RCV_BUF and upd[-1].ack == 1001 + tcp.RCV_BUF


def test_idle_calls_hand_back_one_shared_empty_list():
    # the idle link path allocates nothing (MicroPython heap, bench secc.link_control_heap_bytes):
    # with nothing to report the same empty list comes back every time, still a list
    s = stack()
    s.to_send()
    e1, e2 = s.events(), s.events()
    o1, o2 = s.to_send(), s.to_send()
    assert e1 == [] and e1 is e2 and o1 == [] and o1 is o2
    s.send_udp(15118, CAR_IP, 40000, b"answer", 0)
    out = s.to_send()
    assert len(out) >= 1 and out is not o1            # real output: its own list
    assert s.to_send() == [] and o1 == []              # the shared one stays empty


def test_raw_transport_next_timer_is_ms_until_as_the_contract_says():
    # V2G transport contract (protocols/ccs/transport.py): next_timer() -> ms until poll is
    # needed; due() is the same deadline on the absolute clock (for CcsLink's other timers).
    from firmware.protocols.ccs.net.raw_transport import RawTransport

    class Link:
        def send(self, f):
            return True

        def recv(self):
            return None

    t = RawTransport(Link(), b"\x02\x00\x00\x00\x00\x01", lambda n: bytes(n))
    t.open(5000)
    t.poll(5000)
    assert t.next_timer() is None and t.due() is None
    t.send_sdp((b"\xfe\x80" + bytes(13) + b"\x07", 50000), b"x")   # unknown neighbour: NS timer
    assert t.next_timer() == NS_INTERVAL and t.due() == 5000 + NS_INTERVAL
    t.poll(5000 + NS_INTERVAL - 400)
    assert t.next_timer() == 400 and t.due() == 5000 + NS_INTERVAL
    t.poll(5000 + NS_INTERVAL + 50)                                 # overdue: handled
    assert t.next_timer() == NS_INTERVAL and t.due() == 5000 + 2 * NS_INTERVAL + 50   # NS resent, next one
