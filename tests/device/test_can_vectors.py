"""Golden vectors from cantools (tests/device/can_vectors.json, written by
tools/gen_can.py) through the generated codecs: runs on CPython and inside
MicroPython, so the on-device interpreter itself is checked against
cantools for every message and multiplexer page of every DBC."""
import json

import firmware  # noqa: F401
from firmware.can import codec
from firmware.can.gen import box, chademo, power_stage

MODS = {"box": box, "chademo": chademo, "power_stage": power_stage}


def _load():
    path = __file__.replace("\\", "/").rsplit("/", 1)[0] + "/can_vectors.json"
    with open(path) as f:
        return json.load(f)


def _hex(b):
    return "".join("%02x" % x for x in b)


def _close(a, b, sig):
    if isinstance(b, int) and isinstance(a, int):
        return a == b
    # floats: exact on double-precision ports; within a fraction of one
    # scale step on single-precision ones (the STM32 port)
    return abs(a - b) <= abs(sig[codec.SIG_SCALE]) * 1e-3 + abs(b) * 1e-6


def test_vectors_cover_every_message_of_every_dbc():
    v = _load()
    seen = set((d, i) for d, i, _vals, _h in v["encode"])
    for name, mod in MODS.items():
        for fid in mod.MESSAGES:
            assert (name, fid) in seen, (name, hex(fid))


def test_encode_matches_cantools_bytes():
    bad = []
    n = 0
    for dbc, fid, values, hexdata in _load()["encode"]:
        got = _hex(MODS[dbc].encode(fid, values))
        n += 1
        if got != hexdata:
            bad.append((dbc, fid, values, hexdata, got))
    assert n > 100 and bad == [], bad[:3]


def test_decode_matches_cantools_values():
    bad = []
    for dbc, fid, hexdata, expect in _load()["decode"]:
        mod = MODS[dbc]
        data = bytes(int(hexdata[i:i + 2], 16) for i in range(0, len(hexdata), 2))
        if expect is None:
            try:
                mod.decode(fid, data)
                bad.append((dbc, fid, hexdata, "decoded, cantools refused"))
            except codec.CodecError:
                pass
            continue
        got = mod.decode(fid, data)
        msg = mod.message(fid)
        sigs = {}
        for s in msg[codec.MSG_SIGS]:
            sigs[s[codec.SIG_NAME]] = s
        if sorted(got) != sorted(expect):
            bad.append((dbc, fid, hexdata, "signal set"))
            continue
        for k in expect:
            if not _close(got[k], expect[k], sigs[k]):
                bad.append((dbc, fid, hexdata, k, got[k], expect[k]))
    assert bad == [], bad[:3]


def test_encode_of_decoded_values_round_trips():
    for dbc, fid, values, hexdata in _load()["encode"]:
        mod = MODS[dbc]
        back = mod.decode(fid, mod.encode(fid, values))
        assert _hex(mod.encode(fid, back)) == hexdata
