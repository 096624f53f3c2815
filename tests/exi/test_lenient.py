"""The leniency vectors of tests/device/test_v2g_exi_lenient.py against EXIficient: the
peer accepts each of them, with the same values, and re-encodes the empty EVCCID the way
our encoder does."""
from firmware.v2g.exi import codec_for
from tests.device import test_v2g_exi_lenient as V


def test_peer_accepts_a_stray_byte(peer):
    ours = codec_for("din").decode(V.SESSION_SETUP_REQ + b"\x00", text_binary=True)
    assert peer.decode(V.SESSION_SETUP_REQ + b"\x00", "din") == ours


def test_peer_accepts_an_nbit_integer_above_its_facet(peer):
    got = peer.decode(V.SOC_127, "din")
    assert got["V2G_Message"]["Body"]["CurrentDemandReq"]["DC_EVStatus"]["EVRESSSOC"] == 127
    assert codec_for("din").decode(V.SOC_127, text_binary=True) == got


def test_peer_reencodes_the_empty_evccid_like_us(peer):
    got = peer.decode(V.EMPTY_EVCCID_CH, "din")
    assert got["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] == ""
    assert peer.encode(got, "din").hex() == V.EMPTY_EVCCID_CANONICAL
