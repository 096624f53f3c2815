"""`v2xbox monitor` decodes any of the project's DBCs live (all three at
once: their ids do not overlap) with regex filtering, over the bench bus."""
import json
import subprocess
import sys
import time

import can

import firmware  # noqa: F401
from firmware.can.gen import box, power_stage
from host_tools import benchbus, dbcs


def test_dbc_ids_do_not_overlap():
    db = dbcs.load_many(dbcs.dbc_names())  # raises on a clash
    assert len(db.messages) == sum(len(dbcs.load(n).messages) for n in dbcs.dbc_names())


def test_monitor_decodes_all_three_dbcs_with_a_filter():
    server, chan = benchbus.start_server()
    try:
        p = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "monitor", "-c", chan,
                              "--dbc", "box", "--dbc", "chademo", "--dbc", "power_stage",
                              "--json", "--filter", "Voltage", "--count", "6", "--duration", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        frames = [
            (0x208, bytes.fromhex("FFF401F00000FA00")),
            (power_stage.ID_PsDcDcStatus, power_stage.encode(power_stage.ID_PsDcDcStatus, {
                "InletVoltage": 398.7, "InletCurrent": -12.5, "DcLinkVoltage": 400.0, "DcDcState": 2,
                "DcDcDerating": 0, "AliveCounter": 1})),
            (box.ID_BoxDcMeasurements, box.encode(box.ID_BoxDcMeasurements, {
                "DcInletVoltage": 398.7, "DcInletCurrent": 12.5, "DcLinkVoltage": 400.0,
                "IsolationResistance": 2000})),
            (0x109, bytes.fromhex("0281011F0005FF4F")),
        ]
        time.sleep(1.0)
        with can.Bus(interface="remote", channel=chan) as bus:
            deadline = time.monotonic() + 25
            while p.poll() is None and time.monotonic() < deadline:
                for fid, data in frames:
                    bus.send(can.Message(arbitration_id=fid, data=data, is_extended_id=False))
                time.sleep(0.2)
        out, err = p.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert p.returncode == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    names = {r["name"] for r in rows}
    assert {"ChargerDischargeStatus", "PsDcDcStatus", "BoxDcMeasurements"} <= names
    for r in rows:
        assert all("Voltage" in k for k in r["signals"]) or "Voltage" in r["name"]
    ps = [r for r in rows if r["name"] == "PsDcDcStatus"][0]
    assert abs(ps["signals"]["InletVoltage"] - 398.7) < 1e-6
