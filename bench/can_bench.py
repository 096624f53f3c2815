"""CAN metrics for `make bench` (collected by bench/run.py).

can.encode_decode_us.micropython / .cpython
    bench/can_codec_timing.py: generated codec, encode_into + decode_into per
    frame over every message of every DBC (MicroPython: WebAssembly port
    under Node, time.ticks_us).
can.host_decode_frames_per_s / can.host_decode_ratio_vs_cantools
    A 1,000,000-frame BLF log (frames of all three DBCs, every one
    decodable) is generated into build/ (reused while its recipe is
    unchanged), read back with python-can, then decoded in the same run by
    host_tools.decoder and by a plain cantools loop
    (db.decode_message(id, data, decode_choices=False)); decode time only.

    python bench/can_bench.py            # prints the metrics as JSON
"""
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import common  # noqa: E402  (bench/common.py)

LOG_FRAMES = 1_000_000
LOG_RECIPE = "v1-seed7-pool48"  # change when the frame mix changes
LOG_PATH = os.path.join(ROOT, "build", "can_bench_%d_%s.blf" % (LOG_FRAMES, LOG_RECIPE))


def codec_timing():
    script = os.path.join(HERE, "can_codec_timing.py")
    c = common.run_cpython(script, 1000)
    m = common.run_micropython(script, 100)
    return c, m


def _frame_pool(db, rnd, per_message=48):
    """Random payloads that cantools decodes (multiplexer values valid)."""
    import cantools

    pool = []
    for m in sorted(db.messages, key=lambda m: m.frame_id):
        got = 0
        while got < per_message:
            data = bytes(rnd.getrandbits(8) for _ in range(m.length))
            try:
                db.decode_message(m.frame_id, data)
            except cantools.database.DecodeError:
                continue
            pool.append((m.frame_id, data))
            got += 1
    return pool


def make_log(path=LOG_PATH, n=LOG_FRAMES):
    """Write the n-frame BLF log unless it already exists."""
    import can

    from host_tools import dbcs

    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rnd = random.Random(7)
    pool = _frame_pool(dbcs.load_many(), rnd)
    tmp = path + ".part"
    with can.BLFWriter(tmp) as w:
        k = len(pool)
        for i in range(n):
            fid, data = pool[rnd.randrange(k)]
            w.on_message_received(can.Message(timestamp=i * 0.0002, arbitration_id=fid, data=data,
                                              is_extended_id=False, channel=0))
    os.replace(tmp, path)
    return path


def host_decode(path=LOG_PATH):
    import can

    from host_tools import dbcs
    from host_tools.decoder import HostDecoder

    frames = [(m.arbitration_id, bytes(m.data)) for m in can.LogReader(path)]
    db = dbcs.load_many()
    dec = HostDecoder(db)
    fns = dec.functions()
    t0 = time.perf_counter()
    for fid, data in frames:
        fns[fid](data)
    t_host = time.perf_counter() - t0
    decode = db.decode_message
    t0 = time.perf_counter()
    for fid, data in frames:
        decode(fid, data, decode_choices=False)
    t_ref = time.perf_counter() - t0
    return len(frames), t_host, t_ref


def collect():
    c, m = codec_timing()
    make_log()
    n, t_host, t_ref = host_decode()
    if n != LOG_FRAMES:
        raise RuntimeError("log has %d frames, expected %d" % (n, LOG_FRAMES))
    return {
        "can.encode_decode_us.micropython": {"value": round(m["us_per_frame"], 2), "unit": "us"},
        "can.encode_decode_us.cpython": {"value": round(c["us_per_frame"], 3), "unit": "us"},
        "can.encode_decode_heap_bytes.micropython": {"value": round(m["heap_bytes_per_frame"], 1), "unit": "B"},
        "can.host_decode_frames_per_s": {"value": round(n / t_host), "unit": "frames/s"},
        "can.cantools_decode_frames_per_s": {"value": round(n / t_ref), "unit": "frames/s"},
        "can.host_decode_ratio_vs_cantools": {"value": round(t_ref / t_host, 2), "unit": "x"},
    }


if __name__ == "__main__":
    print(json.dumps(collect(), indent=1, sort_keys=True))
