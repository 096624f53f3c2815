"""EXI decode leniency for what real cars send (issue 11 item 6). CPython and MicroPython.

Vectors: libcbv2g's DIN SessionSetupReq (tests/din/session_setup.cpp) with a stray byte
appended (what every Tesla does once); a DIN CurrentDemandReq whose EVRESSSOC (facet
0..100, a 7-bit n-bit integer) carries 127; a DIN SessionSetupReq whose empty EVCCID is
sent as a zero-length CH event. tests/exi/test_lenient.py checks EXIficient agrees.
"""
import binascii

import firmware  # noqa: F401
from firmware.v2g.exi import EXIError, codec_for

SESSION_SETUP_REQ = binascii.unhexlify("809a02000000000000000011d01a121dc983cd6000")
SOC_127 = binascii.unhexlify("809a02000000000000000010d1401fc0c0c190821828480180")
EMPTY_EVCCID_CH = binascii.unhexlify("809a02000000000000000011d00000")
EMPTY_EVCCID_CANONICAL = "809a02000000000000000011d400"


def _raises(fn, *a):
    try:
        fn(*a)
    except EXIError as e:
        return str(e)
    raise AssertionError("no EXIError")


def test_a_stray_byte_after_the_document_is_accepted_and_logged():
    din = codec_for("din")
    ref = din.decode(SESSION_SETUP_REQ)
    assert din.warnings == []
    for extra in (b"\x00", b"\xff", b"\x00" * 16):
        assert din.decode(SESSION_SETUP_REQ + extra) == ref
        assert len(din.warnings) == 1 and "trailing" in din.warnings[0]
    assert "trailing" in _raises(din.decode, SESSION_SETUP_REQ + b"\x00" * 17)
    din.strict = True
    try:
        assert "trailing" in _raises(din.decode, SESSION_SETUP_REQ + b"\x00")
    finally:
        din.strict = False


def test_an_nbit_integer_above_its_facet_is_accepted_logged_and_not_reencoded():
    din = codec_for("din")
    msg = din.decode(SOC_127)
    assert msg["V2G_Message"]["Body"]["CurrentDemandReq"]["DC_EVStatus"]["EVRESSSOC"] == 127
    assert len(din.warnings) == 1 and "out of range" in din.warnings[0]
    # encoding stays strict
    assert "EVRESSSOC" in _raises(din.encode, msg)
    din.strict = True
    try:
        _raises(din.decode, SOC_127)
    finally:
        din.strict = False


def test_empty_evccid_as_zero_length_ch_decodes_and_reencodes_canonically():
    din = codec_for("din")
    msg = din.decode(EMPTY_EVCCID_CH)
    assert msg["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] == b""
    assert binascii.hexlify(din.encode(msg)).decode() == EMPTY_EVCCID_CANONICAL
    assert din.decode(binascii.unhexlify(EMPTY_EVCCID_CANONICAL)) == msg
