"""Every car profile's discharge on the CCS rig (hil/rigs/ccs.py: real firmware, supervisor,
averaged plant), over every protocol the profile's car offers and the box implements (DIN,
ISO 15118-2), with the box preferring that protocol. At the cars' real loop limits by default
(BMW iX and Mercedes EQC 5 min, Taycan 30 s, VW MEB 60 s, Ioniq 10 min: profiles.py), which
is what `make bench` runs (bench/ccs_profiles_bench.py); tests cap the long ones.

A run passes when the car discharged through the box for its whole loop and the session
ended in order: the car ended the loop on its own timer (a profile without a known limit:
after 20 s), energy came out of the battery into the AC load, the session record names the
profile and the protocol, the supervisor saw no fault, the box let go (contactors open,
inlet and link below 60 V, ReadyToUnplug). The Mercedes EQC discharges at about 3.6 kW (its
EVMaximumPowerLimit) behind a load that would take more.
"""
import time

from firmware.charging import table as T
from hil.ccs.profile_runs import box_cfg, car_for, runs
from hil.rigs.ccs import run_session

LOAD_W = 3000.0
EQC_LOAD_W = 5000.0         # more than the car's 3.6 kW: the car's limit must bind
EQC_P_MAX_W = 3600.0


def run(name, protocol, loop_cap_ms=None):
    """-> (ok, why, rig, wall_s). loop_cap_ms shortens the car's loop limit (tests)."""
    car = car_for(name)
    if loop_cap_ms:
        car["loop_limit_ms"] = min(car["loop_limit_ms"], loop_cap_ms)
    load = EQC_LOAD_W if name == "mercedes-eqc" else LOAD_W
    t0 = time.monotonic()
    r = run_session(car, box_cfg(name, protocol), max_ms=car["loop_limit_ms"] + 60000, load_w=load)
    wall = time.monotonic() - t0
    ok, why = check(name, protocol, r, car)
    return ok, why, r, wall


def check(name, protocol, r, car):
    rec = r.records()[-1] if r.records() else {}
    ev = r.ev
    if ev is None or ev.result != "completed":
        return False, "car: %s" % (ev.result if ev is not None else "never started")
    if rec.get("protocol") != protocol or ev.protocol != protocol or rec.get("profile") != name:
        return False, "session was %s / %s" % (rec.get("protocol"), rec.get("profile"))
    if not [x for _t, x in ev.log if x == "loop ends: loop time limit"]:
        return False, "the loop did not end on the car's timer: %s" % (ev.log,)
    sup = [t for t, s in r.states if s in (T.SUPPLYING, T.STOPPING)]
    if len(sup) < 2 or sup[1] - sup[0] < car["loop_limit_ms"] - 1000:
        return False, "supplied for %s ms, loop limit %d ms" % (sup[1] - sup[0] if len(sup) > 1 else None,
                                                                car["loop_limit_ms"])
    if r.ac_energy_wh <= 0 or r.power.safety.sup.faults:
        return False, "energy %.1f Wh, faults 0x%x" % (r.ac_energy_wh, r.power.safety.sup.faults)
    if r.state != T.READY_TO_UNPLUG or r.out_k() != (0, 0) or r.plant.v_inlet >= 60 or r.plant.v_link >= 60:
        return False, "did not let go: %s, k %s, inlet %.0f V" % (T.STATE_NAMES[r.state], r.out_k(), r.plant.v_inlet)
    if name == "mercedes-eqc" and not (0.8 * EQC_P_MAX_W <= r.max_p_ac <= EQC_P_MAX_W * 1.02):
        return False, "EQC discharged at up to %.0f W AC, not about %.0f W" % (r.max_p_ac, EQC_P_MAX_W)
    return True, "completed"


def run_all(loop_cap_ms=None, log=None):
    """Every (profile, protocol) run -> [(name, protocol, ok, why, sim_s, wall_s, ac_wh)]."""
    out = []
    for name, protocol in runs():
        ok, why, r, wall = run(name, protocol, loop_cap_ms)
        row = (name, protocol, ok, why, r.now / 1000.0, wall, r.ac_energy_wh)
        out.append(row)
        if log is not None:
            log("ccs rig %-16s %-4s %s, %.0f s simulated in %.1f s, %.1f Wh AC" % (
                name, protocol, why, row[4], wall, row[6]))
    return out
