"""Property tests of V2GTP reassembly and the SDP server on arbitrary input."""
from hypothesis import given, settings, strategies as st

import firmware  # noqa: F401
from firmware.protocols.ccs import sdp, v2gtp

TYPES = st.sampled_from(list(v2gtp.KNOWN_TYPES) + [0xA000, 0xFFFF])
MSGS = st.lists(st.tuples(TYPES, st.binary(max_size=300)), min_size=1, max_size=6)


@given(MSGS, st.lists(st.integers(1, 400), min_size=1, max_size=40))
@settings(max_examples=300)
def test_any_segmentation_yields_the_same_messages(msgs, cuts):
    stream = b"".join(v2gtp.frame(t, p) for t, p in msgs)
    d = v2gtp.Deframer()
    got = []
    pos = 0
    i = 0
    while pos < len(stream):
        n = cuts[i % len(cuts)]
        i += 1
        d.feed(stream[pos:pos + n])
        pos += n
        while True:
            m = d.next()
            if m is None:
                break
            got.append(m)
    assert got == [(t, bytes(p)) for t, p in msgs]
    assert d.pending() == 0


@given(st.binary(max_size=64))
@settings(max_examples=500)
def test_deframer_raises_only_v2gtp_errors(data):
    d = v2gtp.Deframer()
    try:
        d.feed(data)
        while d.next() is not None:
            pass
    except v2gtp.V2GTPError:
        pass


@given(st.binary(max_size=40))
@settings(max_examples=500)
def test_sdp_server_never_raises_and_answers_only_valid_requests(data):
    srv = sdp.SdpServer(bytes(16), 15118)
    out = srv.handle(data)
    if out is not None:
        assert data[:8] == b"\x01\xfe\x90\x00\x00\x00\x00\x02" and len(data) == 10 and data[9] == 0
        assert sdp.decode_response(out)[1] == 15118
