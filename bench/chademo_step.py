"""CHAdeMO charger core cost per main-loop pass, runnable on CPython and
inside MicroPython (node tools/mpy/run.mjs --script bench/chademo_step.py N).

One pass = ChademoLink.poll(now): CanNode RX dispatch of the vehicle's
frames into the core, RX supervision, core.step (Discharging: limit checks,
allowed current, keep-alive), and the cyclic TX fill + encode of
0x108/0x109/0x208/0x209. Polled every 10 ms of simulated time against the
scripted car of tests/device/chademo_scripted_ev.py, so on average a pass
carries 0.3 received and 0.4 sent frames, as on the bus. Only link.poll is
timed. Prints one JSON line: mean us
per pass while discharging, heap bytes per pass (MicroPython, gc off), and
the simulated ms from start to Discharging. The car's frames of one
100 ms cycle are recorded once and replayed (appending them to the sim
port's RX list is inside the timed loop, and so is clearing its TX list;
the heap figure includes the sim port's copy of each sent frame).
"""
import gc
import json
import sys

MICRO = sys.implementation.name == "micropython"
if not MICRO:  # CPython: the repository root, for tests.device (run.mjs puts /repo on the path itself)
    import os
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stopwatch import elapsed_us, now_us  # noqa: E402  (bench/stopwatch.py)
import firmware  # noqa: E402,F401
from firmware.protocols.chademo import charger as ch  # noqa: E402
from tests.device.chademo_scripted_ev import MiniRig  # noqa: E402



def measure(passes):
    rig = MiniRig()
    rig.core.start()
    while rig.core.state != ch.ST_DISCHARGING:
        rig.tick(record=False)
        if rig.now > 20000:
            raise RuntimeError("no discharge: " + rig.core.state_name())
    setup_ms = rig.core.setup_ms
    for _ in range(100):
        rig.tick(record=False)
    # record what the car sends in steady discharge, pass by pass (its frames do not change
    # while the charger's inputs stay the same), then replay it against the same core
    link = rig.link
    core = rig.core
    port = rig.port
    period = 100
    rec = []
    for _ in range(period // 10):
        rig.now += 10
        rig.ev.step(rig.now, 1, 1, rig.current, port)
        rec.append(list(port.rx))
        link.poll(rig.now)
        port.rx.clear()
        port.tx.clear()
    now = rig.now
    n_rec = len(rec)
    gc.collect()
    if MICRO:
        gc.disable()
        a0 = gc.mem_alloc()  # type: ignore[attr-defined]
    t0 = now_us()
    for i in range(passes):
        rx = port.rx
        for f in rec[i % n_rec]:
            rx.append(f)
        now += 10
        link.poll(now)
        port.tx.clear()
    total = elapsed_us(t0)
    heap = 0
    if MICRO:
        heap = gc.mem_alloc() - a0  # type: ignore[attr-defined]
        gc.enable()
    if core.state != ch.ST_DISCHARGING:
        raise RuntimeError("left Discharging: " + core.reason_name())
    return {"passes": passes, "us_per_pass": total / passes, "heap_bytes_per_pass": heap / passes,
            "session_setup_ms": setup_ms, "impl": sys.implementation.name}


try:
    _args = ARGV  # type: ignore[name-defined]  # noqa: F821  (set by tools/mpy/run.mjs)
except NameError:
    _args = sys.argv[1:]
print(json.dumps(measure(int(_args[0]) if _args else 2000)))
