"""V2GTP framing, SDP codec/server and the in-memory transport (CPython and MicroPython)."""
import firmware  # noqa: F401
from firmware.protocols.ccs import sdp, v2gtp
from firmware.protocols.ccs.transport import MemoryTransport

ADDR = b"\xfe\x80" + bytes(6) + b"\x02\x11\x22\xff\xfe\x33\x44\x55"

ALL_TYPES = (0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006, 0x8101, 0x8102, 0x8103,
             0x9000, 0x9001, 0xA000, 0xBEEF, 0xFFFF)


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError as e:
        return str(e)
    raise AssertionError("no error from %r%r" % (fn, args))


def test_header_layout():
    h = v2gtp.header(0x8001, 0x01020304)
    assert h == b"\x01\xfe\x80\x01\x01\x02\x03\x04"


def test_every_payload_type_roundtrips():
    for t in ALL_TYPES:
        f = v2gtp.frame(t, b"abc")
        assert v2gtp.unframe(f) == (t, b"abc")
        d = v2gtp.Deframer()
        d.feed(f)
        assert d.next() == (t, b"abc")
        assert d.next() is None


def test_message_spanning_segments_byte_by_byte():
    payload = bytes(range(200))
    f = v2gtp.frame(v2gtp.EXI, payload)
    d = v2gtp.Deframer()
    for i in range(len(f)):
        assert d.next() is None
        d.feed(f[i:i + 1])
    assert d.next() == (v2gtp.EXI, payload)
    assert d.pending() == 0


def test_several_messages_in_one_segment_and_a_split_tail():
    a = v2gtp.frame(v2gtp.EXI, b"\x80\x01")
    b = v2gtp.frame(v2gtp.ISO20_DC, b"")
    c = v2gtp.frame(v2gtp.ISO20_MAIN, b"xyz" * 10)
    stream = a + b + c
    d = v2gtp.Deframer()
    d.feed(stream[:len(a) + len(b) + 5])
    assert d.next() == (v2gtp.EXI, b"\x80\x01")
    assert d.next() == (v2gtp.ISO20_DC, b"")
    assert d.next() is None
    d.feed(stream[len(a) + len(b) + 5:])
    assert d.next() == (v2gtp.ISO20_MAIN, b"xyz" * 10)
    assert d.next() is None


def test_bad_headers_are_rejected_and_poison_the_stream():
    good = v2gtp.frame(v2gtp.EXI, b"\x80")
    bads = (b"\x02" + good[1:], good[:1] + b"\xfd" + good[2:], good[:2] + b"\x70\x00" + good[4:],
            good[:2] + b"\x90\x02" + good[4:], v2gtp.header(v2gtp.EXI, 100000))
    for bad in bads:
        d = v2gtp.Deframer()
        assert "V2GTP" in _raises(d.feed, bad)
        _raises(d.next)
        _raises(d.feed, good)
    # a bad header behind a good message is found as soon as its 8 bytes are in
    d = v2gtp.Deframer()
    _raises(d.feed, good + b"\x01\xfe\x12\x34\x00\x00\x00\x00")


def test_unframe_checks_the_length_exactly():
    f = v2gtp.frame(v2gtp.SDP_REQUEST, b"\x10\x00")
    _raises(v2gtp.unframe, f + b"\x00")
    _raises(v2gtp.unframe, f[:-1])
    _raises(v2gtp.unframe, f[:5])


def test_sdp_request_and_response_codec():
    req = sdp.encode_request(sdp.SECURITY_NONE, sdp.TRANSPORT_TCP)
    assert req == b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10\x00"
    assert sdp.decode_request(req) == (0x10, 0x00)
    res = sdp.encode_response(ADDR, 0xC350)
    assert len(res) == 28
    assert res[8:24] == ADDR and res[24:26] == b"\xc3\x50" and res[26:] == b"\x10\x00"
    assert sdp.decode_response(res) == (ADDR, 0xC350, 0x10, 0x00)
    _raises(sdp.decode_request, res)
    _raises(sdp.decode_response, req)
    _raises(sdp.encode_request, 0x20, 0)
    _raises(sdp.encode_response, ADDR[:15], 1)


def test_sdp_server_answers_drops_and_never_raises():
    srv = sdp.SdpServer(ADDR, 50000)
    assert sdp.decode_response(srv.handle(sdp.encode_request())) == (ADDR, 50000, 0x10, 0x00)
    # TLS asked, none offered: answered with no TLS
    assert sdp.decode_response(srv.handle(sdp.encode_request(sdp.SECURITY_TLS)))[2] == sdp.SECURITY_NONE
    # UDP transport asked: not answered
    assert srv.handle(sdp.encode_request(sdp.SECURITY_NONE, sdp.TRANSPORT_UDP)) is None
    for junk in (b"", b"\x01", b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10", b"\x01\xfe\x90\x00\x00\x00\x00\x03\x10\x00\x00",
                 b"\x01\xfe\x90\x00\x00\x00\x00\x02\x11\x00", bytes(10), b"\xff" * 64):
        assert srv.handle(junk) is None
    assert srv.answered == 2 and srv.dropped == 8
    tls = sdp.SdpServer(ADDR, 50000, tls_port=50001)
    assert sdp.decode_response(tls.handle(sdp.encode_request(sdp.SECURITY_TLS)))[1:3] == (50001, 0x00)
    assert sdp.decode_response(tls.handle(sdp.encode_request()))[1:3] == (50000, 0x10)


def test_memory_transport_follows_the_contract():
    t = MemoryTransport(ADDR, 50000)
    t.open(0)
    assert t.local_endpoint() == (ADDR, 50000)
    t.ev_sdp((ADDR, 40000), sdp.encode_request())
    ev = t.poll(1)
    assert ev == [("sdp", (ADDR, 40000), sdp.encode_request())]
    t.send_sdp((ADDR, 40000), b"x")
    assert t.ev_sdp_replies() == [((ADDR, 40000), b"x")]
    cid = t.ev_connect()
    t.ev_send(cid, b"abc")
    assert t.poll(2) == [("connected", cid), ("data", cid, b"abc")]
    t.send(cid, b"res")
    assert t.ev_recv(cid) == b"res"
    t.close(cid)
    assert t.poll(3) == [("closed", cid, "local")]
    assert t.ev_closed(cid)
    t.send(cid, b"late")       # ignored after close
    assert t.ev_recv(cid) == b""
    cid2 = t.ev_connect()
    t.ev_close(cid2)
    assert t.poll(4) == [("connected", cid2), ("closed", cid2, "peer")]
