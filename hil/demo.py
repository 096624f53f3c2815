"""`make demo`: the scripted bench session.

Starts the bench bus (loopback), the simulated box (real firmware on the
sim HAL) and the technician monitor as three separate processes, lets them
run, then checks what the monitor decoded: the heartbeat must arrive at its
DBC cycle time with a gap-free alive counter.

Then the NACS discharge (hil.scenarios.nacs_demo: a Tesla-like car over DIN SPEC
70121 against the real firmware's SECC, supervisor and plant, on the box's own
link: pilot, SLAC, IPv6/TCP; in simulated time, with its phase timeline), then the CHAdeMO discharge scenario: the simulated box runs inside the discharge
bench (hil.rigs.discharge: simulated CHAdeMO car, power stage, 3 kW load) ten times
faster than real time and plays a session (plug, start, supply, user stop,
unplug) while the monitor decodes the service CAN. The demo prints the
session timeline (firmware time from the heartbeat uptime, AC power,
energy) and checks the monitor saw it reach Supplying with AC power and
come back to ReadyToUnplug. Exit 0 only if both parts passed.
"""
import contextlib
import json
import subprocess
import sys
import threading
import time

from hil.scenarios import nacs_demo   # NACS (Tesla-like over DIN) before CHAdeMO; simulated time
from host_tools import benchbus, dbcs

RUN_S = 4.0
SESSION_SUPPLY_MS = 30000  # supplying phase: long enough that the conversion losses show at the 1 Wh
                           # resolution of BoxEnergy (8 s at 3 kW would lose ~0.5 Wh, below it)
SESSION_FW_S = 39.0     # firmware seconds of the scripted session (plug ... unplug)
SESSION_SPEED = 10


def _cli(*args):
    return [sys.executable, "-m", "host_tools.cli"] + list(args)


@contextlib.contextmanager
def _bench():
    """A bench bus server on loopback plus a list for the processes started on it;
    on exit every process still running is killed and the server stopped."""
    server, channel = benchbus.start_server()
    procs = []
    try:
        yield channel, procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(5)


def main():
    rc = heartbeat_part()
    rc1 = nacs_demo.main()
    rc2 = discharge_part()
    return rc or rc1 or rc2


def heartbeat_part():
    frames = []
    with _bench() as (channel, procs):
        print("demo: bench bus on %s" % channel)
        sim = subprocess.Popen(_cli("sim", "-c", channel, "--speed", "1", "--duration", str(RUN_S + 2)))
        procs.append(sim)
        mon = subprocess.Popen(_cli("monitor", "-c", channel, "--json", "--duration", str(RUN_S)),
                               stdout=subprocess.PIPE, text=True)
        procs.append(mon)
        for line in mon.stdout:
            rec = json.loads(line)
            frames.append(rec)
            s = rec["signals"]
            if len(frames) % 5 == 1:
                print("  monitor: 0x%03X %s uptime=%.2f s alive=%d state=%s" % (
                    rec["id"], rec["name"], s["UptimeS"], s["AliveCounter"], s["SessionState"]))
        mon.wait(10)
        sim.wait(15)
    return verify(frames)


def verify(frames):
    hb = [f for f in frames if f["name"] == "BoxHeartbeat"]
    period_ms = dbcs.load("box").get_message_by_name("BoxHeartbeat").cycle_time
    problems = []
    expected = int(RUN_S * 1000 / period_ms * 0.6)
    if len(hb) < expected:
        problems.append("only %d heartbeats in %.0f s (expected >= %d)" % (len(hb), RUN_S, expected))
    for a, b in zip(hb, hb[1:]):
        if (a["signals"]["AliveCounter"] + 1) % 256 != b["signals"]["AliveCounter"]:
            problems.append("alive counter jumped %d -> %d" % (a["signals"]["AliveCounter"], b["signals"]["AliveCounter"]))
            break
    gaps = [(b["t"] - a["t"]) * 1000 for a, b in zip(hb, hb[1:])]
    mean = sum(gaps) / len(gaps) if gaps else 0.0
    if gaps and not 0.8 * period_ms <= mean <= 1.2 * period_ms:
        problems.append("heartbeat period %.1f ms, DBC says %d ms" % (mean, period_ms))
    print("demo: %d heartbeats decoded by the monitor, mean period %.1f ms (DBC %d ms)" % (len(hb), mean, period_ms))
    for p in problems:
        print("demo: FAIL: " + p)
    print("demo: %s" % ("PASS" if not problems else "FAIL"))
    return 0 if not problems else 1


def _enum(v, names):
    return v if isinstance(v, str) else names.get(int(v), str(v))


def discharge_part():
    frames = []
    with _bench() as (channel, procs):
        print("demo: discharge session on %s (firmware at %dx real time)" % (channel, SESSION_SPEED))
        mon = subprocess.Popen(_cli("monitor", "-c", channel, "--json", "--duration", str(SESSION_FW_S + 30)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(mon)
        if "listening" not in mon.stderr.readline():   # the box boots only once the monitor listens
            print("demo: FAIL: the monitor did not come up")
            return 1
        reader = threading.Thread(target=lambda: frames.extend(json.loads(line) for line in mon.stdout))
        reader.start()
        sim = subprocess.Popen(_cli("sim", "-c", channel, "--scenario", "discharge", "--speed",
                                    str(SESSION_SPEED), "--duration", str(SESSION_FW_S),
                                    "--supply-ms", str(SESSION_SUPPLY_MS)))
        procs.append(sim)
        sim.wait(SESSION_FW_S + 60)   # however slow the machine, the session is played to its end
        time.sleep(0.5)               # the last frames still in flight reach the monitor
        mon.terminate()
        reader.join(10)
    return verify_session(frames)


def verify_session(frames):
    db = dbcs.load("box")
    names = {}
    for sig in db.get_message_by_name("BoxHeartbeat").signals:
        if sig.name == "SessionState":
            names = {int(k): str(v) for k, v in sig.choices.items()}
    t_fw = 0.0
    p_ac = 0.0
    e_ac = 0.0
    e_dc = 0.0
    max_p = 0.0
    state = None
    seen = []
    timeline = []
    for f in frames:
        s = f["signals"]
        n = f["name"]
        if n == "BoxAcMeasurements":
            p_ac = float(s["AcPower"])
            max_p = max(max_p, p_ac)
            if timeline:
                timeline[-1][2] = max(timeline[-1][2], p_ac)
        elif n == "BoxEnergy":
            e_ac = float(s["EnergyDelivered"])
            e_dc = float(s["EnergyFromVehicle"])
            if timeline:
                timeline[-1][3] = e_ac
        elif n == "BoxHeartbeat":
            t_fw = float(s["UptimeS"])
            st = _enum(s["SessionState"], names)
            if st != state:
                state = st
                seen.append(st)
                timeline.append([t_fw, st, 0.0, e_ac])
    print("  firmware time  state             peak AC power  energy delivered (at state end)")
    for t, st, p, e in timeline:
        print("  t=%6.2f s     %-17s %6.0f W       %.3f kWh" % (t, st, p, e))
    loss = e_dc - e_ac
    print("demo: peak AC power %.0f W, delivered %.3f kWh, drawn from the car %.3f kWh, "
          "lost in the DC/DC and inverter %.3f kWh (%.1f %%)"
          % (max_p, e_ac, e_dc, loss, 100.0 * loss / e_dc if e_dc > 0 else 0.0))
    problems = []
    if "Supplying" not in seen:
        problems.append("the session never reached Supplying (seen: %s)" % ", ".join(seen))
    elif "ReadyToUnplug" not in seen[seen.index("Supplying"):]:
        problems.append("the session did not return to ReadyToUnplug after Supplying (seen: %s)" % ", ".join(seen))
    if max_p < 1000:
        problems.append("no AC power reported while Supplying (peak %.0f W)" % max_p)
    if e_ac <= 0:
        problems.append("no energy delivered")
    elif e_dc <= e_ac:
        problems.append("no conversion losses: %.3f kWh drawn, %.3f kWh delivered" % (e_dc, e_ac))
    if any(s in ("Fault", "Lockout") for s in seen):
        problems.append("the session went through Fault/Lockout")
    for p in problems:
        print("demo: FAIL: " + p)
    print("demo: discharge session %s" % ("PASS" if not problems else "FAIL"))
    return 0 if not problems else 1


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print("demo: finished in %.1f s" % (time.monotonic() - t0))
    sys.exit(rc)
