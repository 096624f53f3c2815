"""CCS on the box (firmware/app/ccs.py) on the CCS rig (hil/rigs/ccs.py: real
firmware, scripted DIN EVCC, averaged plant), simulated time:

  secc.renewal_gap_s            the AC output gap across a session renewal (VW-MEB-like
                                car ending the loop after 20 s; default renewal: pilot
                                state F for 4 s, then 5 %), as the firmware measured it
                                (AC relay off .. on); SLAC is not modelled (add the
                                car's SLAC time, about 1-3 s)
  secc.renewal_gap_x1_s         same with the X1 -> 5 % renewal (no E/F step)
  secc.rig_plug_to_ac_s         plug-in + start to AC power at the load, first session
  secc.rig_profiles_passing     car profiles whose DIN discharge completes on the rig
                                through the real supervisor (loop limits capped at 60 s)
  secc.rig_profiles_total
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _gap(mode):
    from hil.rigs.ccs import CcsRig
    r = CcsRig(car={"loops": 0, "loop_limit_ms": 20000}, cfg={"profile": "vw-meb", "renew_max": 1, "renew_pilot": mode})
    r.plug()
    r.run(300)
    r.start()
    r.run(60000)
    if len(r.power.gaps_ms) != 1:
        raise RuntimeError("no renewal measured (%s): %s" % (mode, r.power.log))
    on = [t for t, live in r.ac_edges if live]
    return r.power.gaps_ms[0] / 1000.0, (on[0] - 300) / 1000.0


def _profiles():
    from firmware.protocols.ccs import profiles
    from hil.ccs.profile_runs import car_for
    from hil.rigs.ccs import run_session
    ok = 0
    names = profiles.names()
    for n in names:
        car = car_for(n)
        car["loop_limit_ms"] = min(car["loop_limit_ms"], 60000)
        r = run_session(car, {"profile": n if n != "tesla-din" else "auto"}, max_ms=car["loop_limit_ms"] + 60000)
        rec = r.records()[-1] if r.records() else {}
        if r.ev.result == "completed" and rec.get("profile") == n and r.ac_energy_wh > 0 \
                and not r.power.safety.sup.faults and r.plant.v_inlet < 60:
            ok += 1
        print("bench: ccs rig profile %-16s %s, %.1f Wh AC" % (n, r.ev.result, r.ac_energy_wh))
    return ok, len(names)


def collect():
    gap, plug_to_ac = _gap("ef")
    gap_x1, _ = _gap("x1")
    ok, total = _profiles()
    return {
        "secc.renewal_gap_s": {"value": round(gap, 3), "unit": "s"},
        "secc.renewal_gap_x1_s": {"value": round(gap_x1, 3), "unit": "s"},
        "secc.rig_plug_to_ac_s": {"value": round(plug_to_ac, 3), "unit": "s"},
        "secc.rig_profiles_passing": {"value": ok, "unit": "profiles"},
        "secc.rig_profiles_total": {"value": total, "unit": "profiles"},
    }


if __name__ == "__main__":
    print(collect())
