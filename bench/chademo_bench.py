"""CHAdeMO metrics for `make bench` (collected by bench/run.py).

chademo.step_us.micropython / .cpython
    bench/chademo_step.py: one main-loop pass of the CHAdeMO charger
    (ChademoLink.poll: RX dispatch into the core, core.step, TX fill and
    encode of 0x108/0x109/0x208/0x209), mean while discharging, 10 ms poll
    period against a scripted car (MicroPython: WebAssembly port under
    Node, time.ticks_us).
chademo.heap_per_step_bytes.micropython
    heap allocated per pass inside MicroPython (gc disabled while timed).
chademo.session_setup_ms
    simulated ms from plug + start to Discharging in a full bench session:
    firmware core + link against the simulated car (hil/vehicles/
    chademo_car.py: CAN up 0.3 s and ready 1.5 s after d1, contactors 1.2 s
    after d2, discharge allowed 0.3 s later) and the stand-in supervisor
    (20 ms grants, 300 ms insulation test, 200 ms precharge) of
    hil/rigs/chademo.py. It follows from those modelled delays plus the
    core's own waits; it is not a measurement of a real car.

    python bench/chademo_bench.py            # prints the metrics as JSON
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import common  # noqa: E402  (bench/common.py)


def step_timing():
    script = os.path.join(HERE, "chademo_step.py")
    c = common.run_cpython(script, 5000)
    m = common.run_micropython(script, 2000)
    return c, m


def session_setup_ms():
    from firmware.protocols.chademo import charger as ch
    from hil.rigs.chademo import ChademoRig

    rig = ChademoRig()
    rig.plug()
    rig.core.start()
    if not rig.run_until(lambda r: r.core.state == ch.ST_DISCHARGING, 30000):
        raise RuntimeError("bench session did not reach Discharging: %s" % rig.states)
    return rig.core.setup_ms


def collect():
    c, m = step_timing()
    return {
        "chademo.step_us.micropython": {"value": round(m["us_per_pass"], 2), "unit": "us"},
        "chademo.step_us.cpython": {"value": round(c["us_per_pass"], 3), "unit": "us"},
        "chademo.heap_per_step_bytes.micropython": {"value": round(m["heap_bytes_per_pass"], 1), "unit": "B"},
        "chademo.session_setup_ms": {"value": session_setup_ms(), "unit": "ms"},
    }


if __name__ == "__main__":
    print(json.dumps(collect(), indent=1, sort_keys=True))
