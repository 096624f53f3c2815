"""CCS on the box (firmware/app/ccs.py) on the CCS rig (hil/rigs/ccs.py: real
firmware on its own link: pilot, SLAC, IPv6/TCP via CcsLink; the car's SLAC,
modem and IP host simulated by hil/ccs/ev_net.py; scripted DIN EVCC, averaged
plant), simulated time:

  secc.plug_to_current_loop_s   CP state B (the box's pilot core detects the car) to the
                                first CurrentDemandReq received by the SECC, against the
                                scripted EVCC with default timings, the user starting at
                                B; the phase breakdown goes to build/secc/plug_to_loop.md
                                (+ .json)
  secc.plug_to_current_loop_wall_s  wall time of that simulation (for the record)
  secc.link_control_heap_bytes.micropython  heap allocated per 10 ms control pass by the link
                                (CcsLink: pilot, SLAC, RawTransport) over the same composition
                                on a MemoryTransport, inside MicroPython (bench/mpy_ccs_link.py)
  secc.link_heap_growth_bytes   live heap growth of the link run minus the MemoryTransport run
                                over 12 s of firmware time (CPython tracemalloc; ~0: no growth)
  secc.renewal_gap_s            the AC output gap across a session renewal (VW-MEB-like
                                car ending the loop after 20 s; default renewal: pilot
                                state F for 4 s, then 5 %), as the firmware measured it
                                (AC relay off .. on), the car's new SLAC included
  secc.renewal_gap_x1_s         same with the X1 -> 5 % renewal (no E/F step)
  secc.rig_plug_to_ac_s         plug-in + start to AC power at the load, first session
  secc.rig_profiles_passing     car profiles whose DIN discharge completes on the rig
                                through the real supervisor (loop limits capped at 60 s)
  secc.rig_profiles_total
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


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


def _plug_to_loop():
    from hil.rigs.ccs import plug_to_loop
    t0 = time.monotonic()
    r, marks, phases, total = plug_to_loop()
    wall = time.monotonic() - t0
    out = os.path.join(ROOT, "build", "secc")
    os.makedirs(out, exist_ok=True)
    doc = {"metric": "secc.plug_to_current_loop_s", "total_ms": total, "wall_s": round(wall, 3),
           "pilot_debounce_ms": marks["b"] - marks["plug"],
           "phases_ms": [{"phase": n, "ms": ms} for n, ms in phases], "marks_ms": marks,
           "car": "hil.ccs.evcc.din DEFAULT_CAR, SimPev (reference PEV timing), starts SLAC on 5 %",
           "box": "BoxApp(discharge='ccs') on the sim HAL, CcsLink on hal.plc, profile auto"}
    with open(os.path.join(out, "plug_to_loop.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    lines = ["# CP state B to the first CurrentDemandReq (simulated time)", "",
             "Box: real firmware on its own link (pilot, SLAC, IPv6/TCP); car: scripted DIN EVCC "
             "with default timings over the simulated EV network (hil/ccs/ev_net.py). "
             "Link marks are frames on the simulated powerline; SECC marks are request arrivals.", "",
             "Before B: pilot debounce (plug-in .. the box sees B): %d ms" % doc["pilot_debounce_ms"], "",
             "| phase | ms | share |", "|---|---:|---:|"]
    for n, ms in phases:
        lines.append("| %s | %d | %.0f %% |" % (n, ms, 100.0 * ms / total if total else 0))
    lines += ["| **B .. first CurrentDemandReq** | **%d** | |" % total, "",
              "Wall time of the simulation: %.2f s" % wall, ""]
    with open(os.path.join(out, "plug_to_loop.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return total / 1000.0, wall


def _link_cost():
    import common  # bench/common.py
    script = os.path.join(HERE, "mpy_ccs_link.py")
    m = common.run_micropython(script, 3000)
    c = common.run_cpython(script, 12000)
    if not (m["link"]["state_ok"] and m["memory"]["state_ok"] and c["link"]["state_ok"]):
        raise RuntimeError("mpy_ccs_link: the box did not reach the measured state: %s / %s" % (m, c))
    per_pass = (m["link"]["heap_per_ms"] - m["memory"]["heap_per_ms"]) * 10
    return per_pass, c["link"]["growth_bytes"] - c["memory"]["growth_bytes"]


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
    p2l, p2l_wall = _plug_to_loop()
    heap_pass, growth = _link_cost()
    gap, plug_to_ac = _gap("ef")
    gap_x1, _ = _gap("x1")
    ok, total = _profiles()
    return {
        "secc.plug_to_current_loop_s": {"value": round(p2l, 3), "unit": "s"},
        "secc.plug_to_current_loop_wall_s": {"value": round(p2l_wall, 3), "unit": "s"},
        "secc.link_control_heap_bytes.micropython": {"value": round(heap_pass, 1), "unit": "B"},
        "secc.link_heap_growth_bytes": {"value": growth, "unit": "B"},
        "secc.renewal_gap_s": {"value": round(gap, 3), "unit": "s"},
        "secc.renewal_gap_x1_s": {"value": round(gap_x1, 3), "unit": "s"},
        "secc.rig_plug_to_ac_s": {"value": round(plug_to_ac, 3), "unit": "s"},
        "secc.rig_profiles_passing": {"value": ok, "unit": "profiles"},
        "secc.rig_profiles_total": {"value": total, "unit": "profiles"},
    }


if __name__ == "__main__":
    print(collect())
