"""Generated codec + runtime inside MicroPython (and CPython). The expected
bytes were produced by cantools 45.1 from dbc/box.dbc; tests/can/ checks
agreement with cantools for random values on CPython."""
import firmware  # noqa: F401
from firmware.can import codec
from firmware.can.gen import box

HB = {"UptimeS": 1234.56, "AliveCounter": 7, "SessionState": 7, "FwVersionMajor": 1,
      "FwVersionMinor": 2, "FaultActive": 0, "LoopLoadPct": 55}
HB_BYTES = bytes([0x40, 0xE2, 0x01, 0x00, 0x07, 0x07, 0x21, 0x6E])


def _raises(fn, *args):
    try:
        fn(*args)
    except codec.CodecError as e:
        return str(e)
    raise AssertionError("no CodecError")


def test_heartbeat_encodes_like_cantools():
    assert box.encode(box.ID_BoxHeartbeat, HB) == HB_BYTES


def test_heartbeat_decodes():
    d = box.decode(box.ID_BoxHeartbeat, HB_BYTES)
    assert d["AliveCounter"] == 7 and d["SessionState"] == box.SessionState_Supplying
    assert d["LoopLoadPct"] == 55 and d["FwVersionMinor"] == 2
    assert abs(d["UptimeS"] - 1234.56) < 0.01


def test_integral_scale_decodes_to_int():
    d = box.decode(box.ID_BoxHeartbeat, HB_BYTES)
    assert isinstance(d["AliveCounter"], int)


def test_raw_mode_keeps_full_precision():
    v = dict(HB)
    v["UptimeS"] = 4294967295  # raw counts (10 ms), beyond single precision
    data = box.encode(box.ID_BoxHeartbeat, v, False)
    assert data[:4] == b"\xff\xff\xff\xff"
    assert box.decode(box.ID_BoxHeartbeat, data, False)["UptimeS"] == 4294967295


def test_encode_into_reuses_buffer():
    buf = bytearray(b"\xaa" * 8)
    out = box.encode_into(box.ID_BoxHeartbeat, HB, buf)
    assert out is buf and bytes(buf) == HB_BYTES


def test_decode_into_reuses_dict():
    d = {}
    assert box.decode_into(box.ID_BoxHeartbeat, HB_BYTES, d) is d
    assert d["AliveCounter"] == 7


def test_errors_are_clear():
    assert "unknown frame id 0x7FF" in _raises(box.encode, 0x7FF, HB)
    v = dict(HB)
    del v["AliveCounter"]
    assert "missing signal AliveCounter" in _raises(box.encode, box.ID_BoxHeartbeat, v)
    v = dict(HB)
    v["LoopLoadPct"] = 101
    assert "above its maximum" in _raises(box.encode, box.ID_BoxHeartbeat, v)
    v["LoopLoadPct"] = -1
    assert "below its minimum" in _raises(box.encode, box.ID_BoxHeartbeat, v)
    v = dict(HB)
    v["Bogus"] = 1
    assert "not part of this frame" in _raises(box.encode, box.ID_BoxHeartbeat, v)
    assert "need 8" in _raises(box.decode, box.ID_BoxHeartbeat, b"\x00\x01")


def test_codec_error_is_value_error():
    assert issubclass(codec.CodecError, ValueError)


def test_round_half_even_like_cantools():
    # cantools rounds with Python's round(): 2.5 -> 2, 3.5 -> 4
    v = dict(HB)
    v["UptimeS"] = 0.025
    assert box.encode(box.ID_BoxHeartbeat, v)[0] in (2, 3)  # 0.025/0.01 is not exactly 2.5 in binary
    assert round(2.5) == 2 and round(3.5) == 4 and round(-2.5) == -2


def test_segments_big_endian_roundtrip():
    # a hand-made Motorola 12-bit signal starting at bit 7 (MSB of byte 0)
    sig = ("X", ((1, 4, 15, 0), (0, 0, 255, 4)), 12, False, 1, 0, 0, 4095, None, None)
    msg = ("M", 1, 2, False, 0, 0, "", -1, (sig,), ())
    data = codec.encode(msg, {"X": 0xABC})
    assert data == b"\xab\xc0"
    assert codec.decode(msg, data)["X"] == 0xABC


def test_signed_fields_sign_extend():
    sig = ("T", ((0, 0, 255, 0), (1, 0, 3, 8)), 10, True, 0.5, -10, -266, 245.5, None, None)
    msg = ("M", 2, 2, False, 0, 0, "", -1, (sig,), ())
    for phys in (-266.0, -10.0, -10.5, 0.0, 245.5):
        assert codec.decode(msg, codec.encode(msg, {"T": phys}))["T"] == phys
