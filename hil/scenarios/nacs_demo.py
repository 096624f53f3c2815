"""The NACS part of `make demo`: a Tesla-like car (offers urn:tesla:din:2018
first, then DIN; closes only on the real inlet voltage) discharged over DIN
SPEC 70121 for 20 s, then stopped by the user and unplugged, by the real box
firmware (SECC -> charging port -> session -> safety supervisor) on the CCS
rig (hil/rigs/ccs.py) on the box's own link: control pilot, SLAC, IPv6
(ND, UDP SDP, TCP) through CcsLink and the simulated car network
(hil/ccs/ev_net.py), in simulated time. Prints the phase timeline (pilot and
link milestones, box session states, the car's V2G phases, AC power) and
checks the session. Returns 0 on pass."""
import time

from firmware.charging import table as T
from hil.ccs.profile_runs import car_for
from hil.rigs.ccs import CcsRig, link_marks

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


LINK_ROWS = (("parm", "CM_SLAC_PARM.REQ (car starts SLAC)"), ("match", "CM_SLAC_MATCH.CNF (NMK to the car)"),
             ("up", "car's modem joined the AVLN"), ("sdp_req", "SDP request (ff02::1)"),
             ("sdp", "SDP response (SECC address, port)"), ("ns", "NS for the SECC's address"),
             ("na", "NA"), ("syn", "TCP SYN"), ("synack", "TCP SYN+ACK"))


def link_rows(r):
    rows = [(t, "pilot", "%s -> %s" % (e[1], e[2]), None) for t, e in r.power.link_log if e[0] == "pilot"]
    rows += [(t, "pilot", "5 % oscillator on (car sees it)", None) for t in r.pwm_at]
    for since in r.pwm_at:
        m = link_marks(r, since)
        rows += [(m[k], "link", text, None) for k, text in LINK_ROWS if k in m]
    return rows


def timeline(r, peak):
    rows = [(t, "box ", T.STATE_NAMES[s], peak.get(s, 0.0)) for t, s in r.states]
    rows += [(t, "car ", ph, None) for t, ph in r.phases]
    rows += link_rows(r)
    rank = {"pilot": 0, "box ": 1, "car ": 2, "link": 3}     # same ms: cause before effect
    rows.sort(key=lambda x: (x[0], rank[x[1]]))
    out = []
    for t, who, what, p in rows:
        extra = "" if p is None or p <= 0 else "  peak AC %.0f W" % p
        out.append("  t=%7.3f s  %-5s %-36s%s" % (t / 1000.0, who, what, extra))
    return out


def main():
    print("demo: NACS discharge (Tesla-like car over DIN SPEC 70121 on the box's own link: "
          "pilot, SLAC, IPv6/TCP; simulated time)")
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
    m = link_marks(r, r.pwm_at[0]) if r.pwm_at else {}
    missing = [k for k, _ in LINK_ROWS if k not in m]
    if missing:
        problems.append("link milestones missing: %s" % ", ".join(missing))
    if r.power.safety.sup.faults:
        problems.append("supervisor faults 0x%x" % r.power.safety.sup.faults)
    for p in problems:
        print("demo: FAIL: " + p)
    print("demo: NACS discharge %s" % ("PASS" if not problems else "FAIL"))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
