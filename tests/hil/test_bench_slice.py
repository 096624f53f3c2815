"""The first vertical slice end to end: the simulated box's heartbeat,
decoded by cantools from the DBC, in-process and across processes."""
import json
import subprocess
import sys

import can

from hil.simbox import SimBox
from host_tools import benchbus, dbcs


def test_simbox_heartbeat_decodes_with_cantools_on_a_virtual_bus():
    db = dbcs.load("box")
    hb = db.get_message_by_name("BoxHeartbeat")
    with can.Bus(interface="virtual", channel="slice", receive_own_messages=False) as box_bus, \
            can.Bus(interface="virtual", channel="slice") as tool:
        box = SimBox(box_bus, speed=0)
        box.boot()
        box.run(duration_ms=2000)
        got = []
        msg = tool.recv(timeout=1)
        while msg is not None:
            got.append(msg)
            msg = tool.recv(timeout=0.05)
    frames = [m for m in got if m.arbitration_id == hb.frame_id]
    assert len(frames) == 2000 // hb.cycle_time
    decoded = [hb.decode(m.data) for m in frames]
    assert [d["AliveCounter"] for d in decoded] == list(range(len(frames)))
    assert decoded[0]["SessionState"] == "Idle"


def test_monitor_in_another_process_decodes_the_sim_box(tmp_path):
    server, channel = benchbus.start_server()
    try:
        sim = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "sim", "-c", channel,
                                "--speed", "1", "--duration", "4"], stderr=subprocess.PIPE, text=True)
        mon = subprocess.run([sys.executable, "-m", "host_tools.cli", "monitor", "-c", channel, "--json",
                              "--count", "10", "--duration", "20"], capture_output=True, text=True, timeout=60)
        sim.wait(30)
    finally:
        server.terminate()
        server.wait(5)
    assert mon.returncode == 0, mon.stderr
    recs = [json.loads(line) for line in mon.stdout.splitlines()]
    assert len(recs) == 10
    assert all(r["name"] == "BoxHeartbeat" for r in recs)
    counters = [r["signals"]["AliveCounter"] for r in recs]
    assert counters == list(range(counters[0], counters[0] + 10))
    assert sim.returncode == 0
