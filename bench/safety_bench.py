"""`make bench` metrics provider for the safety side (issue #5).

collect() runs the fault-injection matrix in simulated time and returns the
figures; bench/run.py merges providers. Also runnable alone:
    .venv/bin/python bench/safety_bench.py
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def collect():
    import firmware  # noqa: F401
    from firmware.safety import faults as fl
    from hil.safety_matrix import cached_matrix, stall_to_d2_off
    r = cached_matrix()
    t_d2, t_car, _under, _i = stall_to_d2_off()
    return {
        # main loop stalled mid-discharge (CHAdeMO bench): stall -> d2 released,
        # and -> the simulated car's contactors open (worst of three tick phases)
        "safety.stall_to_d2_off_ms": {"value": int(t_d2), "unit": "ms"},
        "safety.stall_to_car_open_ms": {"value": int(t_car), "unit": "ms"},
        # input classes guarded by a named plausibility/freshness fault
        "safety.plausibility_faults": {"value": len(fl.PLAUSIBILITY), "unit": "count"},
        "safety.fault_matrix_passed": {"value": r["passed"], "unit": "count"},
        "safety.fault_matrix_total": {"value": r["total"], "unit": "count"},
        "safety.worst_reaction_ms": {"value": r["worst_reaction_ms"], "unit": "ms"},
        "safety.estop_reaction_ms": {"value": r["estop_reaction_ms"], "unit": "ms"},
        "safety.estop_polled_reaction_ms": {"value": r["estop_polled_ms"], "unit": "ms"},
    }


if __name__ == "__main__":
    print(json.dumps(collect(), indent=2))
