"""`make demo`: the scripted bench session.

Starts the bench bus (loopback), the simulated box (real firmware on the
sim HAL) and the technician monitor as three separate processes, lets them
run, then checks what the monitor decoded: the heartbeat must arrive at its
DBC cycle time with a gap-free alive counter. Exit 0 only if it did.
"""
import json
import subprocess
import sys
import time

from host_tools import benchbus, dbcs

RUN_S = 4.0


def _cli(*args):
    return [sys.executable, "-m", "host_tools.cli"] + list(args)


def main():
    server, channel = benchbus.start_server()
    print("demo: bench bus on %s" % channel)
    procs = []
    try:
        sim = subprocess.Popen(_cli("sim", "-c", channel, "--speed", "1", "--duration", str(RUN_S + 2)))
        procs.append(sim)
        mon = subprocess.Popen(_cli("monitor", "-c", channel, "--json", "--duration", str(RUN_S)),
                               stdout=subprocess.PIPE, text=True)
        procs.append(mon)
        frames = []
        for line in mon.stdout:
            rec = json.loads(line)
            frames.append(rec)
            s = rec["signals"]
            if len(frames) % 5 == 1:
                print("  monitor: 0x%03X %s uptime=%.2f s alive=%d state=%s" % (
                    rec["id"], rec["name"], s["UptimeS"], s["AliveCounter"], s["SessionState"]))
        mon.wait(10)
        sim.wait(15)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(5)
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


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print("demo: finished in %.1f s" % (time.monotonic() - t0))
    sys.exit(rc)
