"""The SECC app core on arbitrary input: it never raises, never closes the power path on
garbage it did not open, and ends a connection that sends garbage with a named reason."""
from hypothesis import HealthCheck, given, settings, strategies as st

import firmware  # noqa: F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import v2gtp
from firmware.protocols.ccs.secc import Secc
from firmware.protocols.ccs.transport import MemoryTransport
from firmware.v2g.exi import codec_for

DIN_SAP = codec_for("app").encode({"supportedAppProtocolReq": {"AppProtocol": [
    {"ProtocolNamespace": "urn:din:70121:2012:MsgDef", "VersionNumberMajor": 2, "VersionNumberMinor": 0,
     "SchemaID": 1, "Priority": 1}]}})


def _setup(after_sap):
    t = MemoryTransport()
    port = P.SimPort()
    s = Secc(t, port, {})
    s.open(0)
    cid = t.ev_connect()
    if after_sap:
        t.ev_send(cid, v2gtp.frame(v2gtp.EXI, DIN_SAP))
        s.step(1)
        t.ev_recv(cid)
    return t, port, s, cid


@given(st.lists(st.binary(max_size=80), min_size=1, max_size=6), st.booleans(), st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_garbage_stream_never_raises(chunks, after_sap, framed):
    t, port, s, cid = _setup(after_sap)
    now = 2
    for c in chunks:
        t.ev_send(cid, v2gtp.frame(v2gtp.EXI, c) if framed else c)
        s.step(now)
        now += 10
    s.step(now + 30000)
    assert not port.closed()
    if t.ev_closed(cid):
        assert s.records and s.records[-1]["ended"]


@given(st.binary(min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_garbage_exi_after_sap_ends_the_session_with_a_reason(payload):
    t, port, s, cid = _setup(True)
    t.ev_send(cid, v2gtp.frame(v2gtp.EXI, payload))
    s.step(5)
    s.step(6)
    if t.ev_closed(cid):
        rec = s.records[-1]
        assert rec["ended"]
    else:
        # it decoded as some DIN message: the SECC answered it (a FAILED code or a real answer)
        assert t.ev_recv(cid)[:2] == b"\x01\xfe"


def test_sdp_garbage_is_dropped():
    t, port, s, cid = _setup(False)
    for junk in (b"", b"\x01\xfe\x90\x00", b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10\x10", bytes(300)):
        t.ev_sdp((bytes(16), 1), junk)
    s.step(3)
    assert t.ev_sdp_replies() == []
    assert s.sdp.dropped == 4
