"""The NACS part of `make demo`: a Tesla-like car (offers urn:tesla:din:2018
first, then DIN; closes only on the real inlet voltage) discharged over DIN
SPEC 70121 for 20 s, then stopped by the user and unplugged, by the real box firmware (SECC -> charging port -> session ->
safety supervisor) on the CCS rig (hil/rigs/ccs.py), in simulated time.
Prints the phase timeline (box session states, the car's V2G phases, AC
power) and checks the session. Returns 0 on pass."""
import time

from firmware.charging import table as T
from hil.ccs.profile_runs import car_for
from hil.rigs.ccs import CcsRig

SUPPLY_S = 20          # the user stops after this long in Supplying (Tesla: no public loop limit)
LOAD_W = 3000.0


def run():
    car = car_for("tesla-din")
    car["loop_limit_ms"] = 0
    r = CcsRig(car, {"profile": "auto"}, load_w=LOAD_W, soc=70.0)
    peak = {}
    t0 = time.monotonic()
    r.plug()
    r.run(300)
    r.start()
    end = (T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)
    stop_at = None
    for _ in range(SUPPLY_S * 1000 + 60000):
        if r.ev is not None and r.ev.done and r.state in end and not r.power.active:
            break
        if stop_at is None and r.state == T.SUPPLYING:
            stop_at = r.now + SUPPLY_S * 1000
        if stop_at is not None and r.now == stop_at:
            r.stop()                # the user stops: EVSE_Shutdown in the next CurrentDemandRes
        r.step()
        st = r.state
        if r.plant.p_ac > peak.get(st, 0.0):
            peak[st] = r.plant.p_ac
    r.plug(False)
    r.run(500)
    wall = time.monotonic() - t0
    return r, peak, wall


def timeline(r, peak):
    rows = [(t, "box ", T.STATE_NAMES[s], peak.get(s, 0.0)) for t, s in r.states]
    rows += [(t, "car ", ph, None) for t, ph in r.phases]
    rows.sort(key=lambda x: (x[0], x[1]))
    out = []
    for t, who, what, p in rows:
        extra = "" if p is None or p <= 0 else "  peak AC %.0f W" % p
        out.append("  t=%7.3f s  %s %-26s%s" % (t / 1000.0, who, what, extra))
    return out


def main():
    print("demo: NACS discharge (Tesla-like car over DIN SPEC 70121, simulated time)")
    r, peak, wall = run()
    for line in timeline(r, peak):
        print(line)
    rec = r.records()[-1] if r.records() else {}
    loops = rec.get("current_demand_loops", 0)
    print("demo: protocol %s (car offered %s), profile %s, %d CurrentDemand loops, car: %s" % (
        rec.get("protocol"), ", ".join(rec.get("offered", [])), rec.get("profile"), loops, r.ev.result))
    e_bat = r.plant.e_batt_wh
    print("demo: delivered %.1f Wh AC, drawn from the car %.1f Wh, SoC %.2f %% -> %.2f %%, "
          "%.1f s simulated in %.1f s" % (r.ac_energy_wh, e_bat, 70.0, r.battery.soc, r.now / 1000.0, wall))
    problems = []
    names = r.state_names()
    if rec.get("profile") != "tesla-din" or rec.get("protocol") != "din":
        problems.append("the car was not served as tesla-din over DIN: %s / %s" % (rec.get("profile"), rec.get("protocol")))
    if r.ev.result != "completed":
        problems.append("the car ended with %r" % r.ev.result)
    if "Supplying" not in names or "ReadyToUnplug" not in names[names.index("Supplying"):]:
        problems.append("states: %s" % ", ".join(names))
    if r.ac_energy_wh <= 0 or e_bat <= r.ac_energy_wh:
        problems.append("energy: %.2f Wh delivered of %.2f Wh drawn" % (r.ac_energy_wh, e_bat))
    if r.power.safety.sup.faults:
        problems.append("supervisor faults 0x%x" % r.power.safety.sup.faults)
    for p in problems:
        print("demo: FAIL: " + p)
    print("demo: NACS discharge %s" % ("PASS" if not problems else "FAIL"))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
