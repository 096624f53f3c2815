"""Property tests: for every message of every DBC, the generated on-device
codec and cantools agree byte for byte (encode) and value for value
(decode), for random valid values and random payloads; out-of-range values
raise CodecError (never wrap)."""
import math
import os

import cantools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.can import codec
from tools import gen_can

EXAMPLES = int(os.environ.get("V2X_HYPOTHESIS_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _load():
    out = []
    for path in gen_can.dbc_files():
        stem = os.path.splitext(os.path.basename(path))[0]
        db = cantools.database.load_file(path, strict=True)
        mod = __import__("firmware.can.gen." + stem, None, None, ["_"])
        for m in db.messages:
            out.append(pytest.param(db, mod, m, id="%s:%s" % (stem, m.name)))
    return out


CASES = _load()


def _raw_bounds(sig):
    """Raw integer range that is both inside the bit field and [min, max]."""
    if sig.is_signed:
        lo, hi = -(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1
    else:
        lo, hi = 0, (1 << sig.length) - 1
    if sig.minimum is not None and sig.maximum is not None:
        a = (sig.minimum - sig.offset) / sig.scale
        b = (sig.maximum - sig.offset) / sig.scale
        lo = max(lo, math.ceil(min(a, b) - 1e-9))
        hi = min(hi, math.floor(max(a, b) + 1e-9))
    return lo, hi


def _signals_for(msg, draw):
    """Signals present in one drawn frame (multiplexer value drawn first)."""
    muxers = [s for s in msg.signals if s.is_multiplexer]
    if not muxers:
        return list(msg.signals)
    ids = sorted({i for s in msg.signals for i in (s.multiplexer_ids or ())})
    sel = draw(st.sampled_from(ids))
    return [s for s in msg.signals if not s.multiplexer_ids or sel in s.multiplexer_ids], muxers[0], sel


def _draw_values(msg, draw, physical_floats):
    got = _signals_for(msg, draw)
    if isinstance(got, tuple):
        sigs, mux, sel = got
    else:
        sigs, mux, sel = got, None, None
    values = {}
    for s in sigs:
        if s is mux:
            values[s.name] = sel
            continue
        lo, hi = _raw_bounds(s)
        if physical_floats and s.choices is None and not isinstance(s.scale, int):
            a, b = sorted((lo * s.scale + s.offset, hi * s.scale + s.offset))
            values[s.name] = draw(st.floats(a, b, allow_nan=False))
        else:
            ints = st.integers(lo, hi)
            if s.choices:  # value-table entries are valid even outside [min, max]
                ints = ints | st.sampled_from(sorted(s.choices))
            raw = draw(ints)
            values[s.name] = s.conversion.raw_to_scaled(raw, False)
    return values


def _both_encode(db, mod, msg, values):
    try:
        ref = db.encode_message(msg.frame_id, values, strict=True)
    except (cantools.database.EncodeError, KeyError) as e:
        ref = e
    try:
        ours = mod.encode(msg.frame_id, values)
    except codec.CodecError as e:
        ours = e
    return ref, ours


@pytest.mark.parametrize("db,mod,msg", CASES)
@SETTINGS
@given(data=st.data())
def test_encode_valid_values_matches_cantools(db, mod, msg, data):
    values = _draw_values(msg, data.draw, physical_floats=False)
    ref, ours = _both_encode(db, mod, msg, values)
    assert isinstance(ref, bytes), ref
    assert ours == ref
    # and back: decode of our bytes gives the same values cantools gives
    assert mod.decode(msg.frame_id, ours) == db.decode_message(msg.frame_id, ref, decode_choices=False)


@pytest.mark.parametrize("db,mod,msg", CASES)
@SETTINGS
@given(data=st.data())
def test_encode_rounding_of_arbitrary_physical_values_matches_cantools(db, mod, msg, data):
    values = _draw_values(msg, data.draw, physical_floats=True)
    ref, ours = _both_encode(db, mod, msg, values)
    if isinstance(ref, bytes):
        assert ours == ref
    else:  # cantools refuses (edge of range after rounding): so must we
        assert isinstance(ours, codec.CodecError), (ref, ours)


@pytest.mark.parametrize("db,mod,msg", CASES)
@SETTINGS
@given(data=st.data())
def test_decode_random_payload_matches_cantools(db, mod, msg, data):
    payload = data.draw(st.binary(min_size=msg.length, max_size=msg.length))
    try:
        ref = db.decode_message(msg.frame_id, payload, decode_choices=False)
    except cantools.database.DecodeError:
        with pytest.raises(codec.CodecError):
            mod.decode(msg.frame_id, payload)
        return
    ours = mod.decode(msg.frame_id, payload)
    assert ours == ref
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in ref.items()}


@pytest.mark.parametrize("db,mod,msg", CASES)
@SETTINGS
@given(data=st.data())
def test_out_of_range_raises_never_wraps(db, mod, msg, data):
    values = _draw_values(msg, data.draw, physical_floats=False)
    cands = [s for s in msg.signals if s.name in values and not s.is_multiplexer
             and (s.minimum is not None or s.maximum is not None)]
    if not cands:
        return
    s = data.draw(st.sampled_from(cands))
    lo, hi = _raw_bounds(s)
    step = abs(s.scale)
    side = data.draw(st.sampled_from(["low", "high"]))
    k = data.draw(st.integers(1, 1 << 40))
    if side == "high":
        bad = max(lo * s.scale, hi * s.scale) + s.offset + k * step
    else:
        bad = min(lo * s.scale, hi * s.scale) + s.offset - k * step
    raw_bad = round((bad - s.offset) / s.scale)
    if s.choices and raw_bad in s.choices:
        return  # a value-table entry is always encodable (cantools semantics)
    values[s.name] = bad
    ref, ours = _both_encode(db, mod, msg, values)
    assert isinstance(ours, codec.CodecError), "%s=%r encoded as %r" % (s.name, bad, ours)
    assert s.name in str(ours)
    if not isinstance(ref, Exception):
        # cantools only range-checks [min, max]; if it accepted, the value
        # was past the bit field, which cantools' packer would truncate
        pytest.fail("cantools accepted %s=%r" % (s.name, bad))


@pytest.mark.parametrize("db,mod,msg", CASES)
def test_tables_match_dbc(db, mod, msg):
    m = mod.message(msg.frame_id)
    assert m[codec.MSG_NAME] == msg.name and m[codec.MSG_DLC] == msg.length
    assert getattr(mod, "ID_" + msg.name) == msg.frame_id
    assert mod.BY_NAME[msg.name] == msg.frame_id
    if msg.cycle_time:
        assert mod.CYCLE_MS[msg.frame_id] == msg.cycle_time
        assert mod.TIMEOUT_MS[msg.frame_id] >= msg.cycle_time
    else:
        assert msg.frame_id not in mod.CYCLE_MS
    for s in msg.signals:
        for raw, name in (s.choices or {}).items():
            cname = "%s_%s" % (s.name, gen_can._ident(name))
            alt = "%s_%s_%s" % (msg.name, s.name, gen_can._ident(name))
            assert getattr(mod, cname, None) == raw or getattr(mod, alt, None) == raw
