"""Bad input: truncated, garbled, oversized or wrong-schema EXI gives EXIError and nothing else,
in bounded time and memory."""
import os
import subprocess
import sys
import time
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.v2g.exi import SCHEMAS, EXIError, codec_for
from tests.exi.msggen import message_types, messages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_SECONDS = 0.5          # per decode, far above the normal ~0.1 ms
MAX_PEAK = 2 * 1024 * 1024


def bounded_decode(codec, data):
    """Decode; return the message or None for an EXIError. Anything else fails the test."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        return codec.decode(data)
    except EXIError as e:
        assert str(e)
        return None
    finally:
        dt = time.perf_counter() - t0
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert dt < MAX_SECONDS, dt
        assert peak < MAX_PEAK, peak


def valid_samples():
    """Valid encodings of every message type of every schema (two per type, deterministic)."""
    out = []
    for s in SCHEMAS:
        c = codec_for(s)
        for root, body in message_types(s):
            @settings(max_examples=2, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(messages(s, root, exclude=("Signature",), prefer=(body,) if body else ()))
            def collect(msg):
                out.append((s, c.encode(msg)))

            collect()
    return out


SAMPLES = valid_samples()


def samples():
    return SAMPLES


SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(st.sampled_from(SCHEMAS), st.binary(max_size=400))
def test_random_bytes(schema, data):
    bounded_decode(codec_for(schema), data)


@SETTINGS
@given(st.sampled_from(SCHEMAS), st.binary(max_size=400))
def test_random_bytes_after_a_valid_header(schema, data):
    bounded_decode(codec_for(schema), b"\x80" + data)


@SETTINGS
@given(st.data())
def test_truncated(data):
    schema, enc = data.draw(st.sampled_from(samples()))
    n = data.draw(st.integers(0, len(enc) - 1))
    # a strict prefix can only decode if the cut falls into the padding of the last byte
    bounded_decode(codec_for(schema), enc[:n])


@SETTINGS
@given(st.data())
def test_bit_flips_and_garbage(data):
    schema, enc = data.draw(st.sampled_from(samples()))
    b = bytearray(enc)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) * 8 - 1))
        b[i >> 3] ^= 0x80 >> (i & 7)
    b += data.draw(st.binary(max_size=8))
    bounded_decode(codec_for(schema), bytes(b))


@SETTINGS
@given(st.data())
def test_wrong_schema(data):
    schema, enc = data.draw(st.sampled_from(samples()))
    other = data.draw(st.sampled_from([s for s in SCHEMAS if s != schema]))
    bounded_decode(codec_for(other), enc)


def test_every_strict_prefix_of_every_sample_fails():
    for schema, enc in samples():
        c = codec_for(schema)
        for n in range(len(enc)):
            assert bounded_decode(c, enc[:n]) is None, (schema, enc.hex(), n)


def test_oversized_claims_are_rejected_quickly():
    din = codec_for("din")
    vec = bytes.fromhex("809a02000000000000000011d01a121dc983cd6000")
    # EVCCID length field replaced by a huge unsigned integer, and a megabyte of garbage
    assert bounded_decode(din, vec[:12] + b"\xff" * 12 + b"\x01") is None
    assert bounded_decode(din, b"\x80" + b"\xff" * (1 << 20)) is None
    assert bounded_decode(din, b"\x80" + b"\x00" * (1 << 20)) is None


def test_non_bytes_input():
    for bad in (None, "809a", 5, [0x80]):
        try:
            codec_for("din").decode(bad)
        except EXIError:
            continue
        raise AssertionError(bad)


def test_atheris_fuzz(tmp_path):
    # crash artifacts (if any) land in tmp_path, never in the work tree
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "exi", "fuzz_exi.py"),
                        "-runs=30000", "-max_len=512", "-seed=1", "-artifact_prefix=%s/" % tmp_path],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Done 30000 runs" in p.stderr


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["V2G_Message", "Header", "Body", "SessionID", "value", "Id", "x",
                         "supportedAppProtocolReq", "AppProtocol", "DC_ChargeLoopReq"]), inner, max_size=4),
    max_leaves=20)


@SETTINGS
@given(st.sampled_from(SCHEMAS), JSONISH)
def test_encoding_garbage_raises_only_exierror(schema, msg):
    try:
        data = codec_for(schema).encode(msg)
    except EXIError:
        return
    assert codec_for(schema).decode(data) is not None
