# Runs on CPython and inside MicroPython (node tools/mpy/run.mjs --script bench/mpy_ccs_link.py [MS]):
# the cost of the CCS composition's link (firmware/app/ccs.py on CcsLink: pilot, SLAC, RawTransport)
# against the same composition on a MemoryTransport, same run, same harness: the box plugged and
# started (Handshake, 5 % pilot, SLAC waiting for the car's CM_SLAC_PARM.REQ), stepped every 5 ms
# of firmware time like the device tests' harness. One JSON line: mean us per simulated ms and
# heap bytes allocated per simulated ms (MicroPython only, gc disabled while measuring) for both,
# and on CPython the live heap growth over a second run as long (tracemalloc: current bytes after
# the second run minus after the first; the WebAssembly port's gc.collect frees nothing here, so
# MicroPython reports allocation only).
import gc
import json
import sys

from stopwatch import MICRO, elapsed_us, now_us  # noqa: E402  (bench/stopwatch.py)

sys.path.insert(0, "/repo/tests/device" if MICRO else "tests/device")
import firmware  # noqa: E402,F401
from firmware.protocols.ccs.slac import mme  # noqa: E402
from test_app_ccs import B_HIGH_MV, Box, _rng  # noqa: E402  (the device tests' box harness)

try:
    _argv = ARGV  # noqa: F821  (set by tools/mpy/run.mjs)
except NameError:
    _argv = sys.argv
MS = int(_argv[1]) if len(_argv) > 1 else 3000


def ready(link):
    b = Box(link=link, cfg={"profile": "generic", "rng": _rng})
    b.high = B_HIGH_MV
    b.run(400)
    b.app.start()
    b.run(50)
    if link:
        b.hal.plc.rx.append(mme.set_key_cnf(b.p.link.slac.mac, b"\x00\xb0\x52\x00\x00\x01"))
        b.run(20)
    b.hal.plc.tx = []
    return b


def measure(link):
    b = ready(link)
    gc.disable()
    a0 = gc.mem_alloc() if MICRO else 0
    t0 = now_us()
    b.run(MS)
    us = elapsed_us(t0)
    heap = (gc.mem_alloc() - a0) if MICRO else 0
    gc.enable()
    growth = 0
    if not MICRO:
        import tracemalloc
        tracemalloc.start()
        b.run(MS)
        gc.collect()
        c0 = tracemalloc.get_traced_memory()[0]
        b.run(MS)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - c0
        tracemalloc.stop()
    return {"us_per_ms": us / MS, "heap_per_ms": heap / MS, "growth_bytes": growth,
            "state_ok": b.p.state == 2 and (not link or b.p.link.slac.state == "WAIT_PARM")}


mem = measure(False)
lnk = measure(True)
print(json.dumps({"memory": mem, "link": lnk, "ms": MS}))
