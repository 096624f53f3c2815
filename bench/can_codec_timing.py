"""Generated CAN codec cost per frame, runnable on CPython and inside
MicroPython (node tools/mpy/run.mjs --script bench/can_codec_timing.py).

One frame = encode_into (reused buffer) + decode_into (reused dict) through
the generated modules' id-keyed API, over every message (and every
multiplexer page) of every DBC, with mid-range values. Prints one JSON line:
mean us per frame, and heap bytes allocated per frame (MicroPython only;
gc disabled while measuring).
"""
import gc
import json
import sys

from stopwatch import MICRO, elapsed_us, now_us  # noqa: E402  (bench/stopwatch.py)
import firmware  # noqa: F401
from firmware.can import codec
from firmware.can.gen import box, chademo, power_stage

MODULES = (box, chademo, power_stage)



def _mid_values(msg, mux_value):
    vals = {}
    for sig in msg[codec.MSG_SIGS]:
        ids = sig[codec.SIG_MUXIDS]
        if ids is not None and mux_value not in ids:
            continue
        if msg[codec.MSG_MUX] >= 0 and sig is msg[codec.MSG_SIGS][msg[codec.MSG_MUX]]:
            vals[sig[codec.SIG_NAME]] = mux_value
            continue
        mid = (sig[codec.SIG_MIN] + sig[codec.SIG_MAX]) / 2
        raw = round((mid - sig[codec.SIG_OFFSET]) / sig[codec.SIG_SCALE])
        vals[sig[codec.SIG_NAME]] = raw * sig[codec.SIG_SCALE] + sig[codec.SIG_OFFSET]
    return vals


def frames():
    out = []
    for mod in MODULES:
        for fid in sorted(mod.MESSAGES):
            msg = mod.MESSAGES[fid]
            pages = msg[codec.MSG_MUXVALS] or (None,)
            for page in pages:
                vals = _mid_values(msg, page)
                mod.encode(fid, vals)  # must be encodable
                out.append((mod, fid, vals, bytearray(msg[codec.MSG_DLC]), {}))
    return out


def measure(rounds):
    work = frames()
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc() if MICRO else 0  # type: ignore[attr-defined]
    t0 = now_us()
    for _ in range(rounds):
        for mod, fid, vals, buf, out in work:
            mod.encode_into(fid, vals, buf)
            mod.decode_into(fid, buf, out)
    total = elapsed_us(t0)
    heap = (gc.mem_alloc() - a0) if MICRO else 0  # type: ignore[attr-defined]
    gc.enable()
    n = rounds * len(work)
    return {"frames": n, "kinds": len(work), "us_per_frame": total / n, "heap_bytes_per_frame": heap / n,
            "impl": sys.implementation.name}


try:
    _args = ARGV  # type: ignore[name-defined]  # noqa: F821  (set by tools/mpy/run.mjs)
except NameError:
    _args = sys.argv[1:]
print(json.dumps(measure(int(_args[0]) if _args else 200)))
