"""The DBC files themselves: strict load without warnings, units, ranges
that fit the bit fields, cycle times, value tables; CHAdeMO checked against
the real frames in shared/reference/chademo-can.md section 5."""
import os
import re
import subprocess
import sys

import cantools
import pytest

import firmware  # noqa: F401
from firmware.can.gen import chademo
from tools import gen_can

DBCS = gen_can.dbc_files()
IDS = [os.path.basename(p) for p in DBCS]
# dimensionless by nature: counters, codes, raw ISO-TP bytes, fault words, protocol numbers
UNITLESS = re.compile(r"(Counter|Count|Number|Code|Data\d|DataLength|Page|BlockSize|Type|VersionMajor|VersionMinor)$|^FaultWord")


def test_the_three_issue_dbcs_exist():
    assert {"box.dbc", "power_stage.dbc", "chademo.dbc"} <= set(IDS)


@pytest.mark.parametrize("path", DBCS, ids=IDS)
def test_loads_strict_without_warnings(path):
    db = gen_can.load_strict(path)  # raises on any cantools warning
    assert db.messages


@pytest.mark.parametrize("path", DBCS, ids=IDS)
def test_loads_strict_in_a_fresh_interpreter_with_warnings_as_errors(path):
    code = ("import logging, cantools; logging.basicConfig(level=logging.WARNING);"
            "cantools.database.load_file(%r, strict=True)" % path)
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("path", DBCS, ids=IDS)
def test_signals_are_fully_described(path):
    db = cantools.database.load_file(path, strict=True)
    problems = []
    for m in db.messages:
        send_type = m.dbc.attributes.get("GenMsgSendType")
        event = send_type is not None and send_type.value == "Event"
        if not event and not m.cycle_time:
            problems.append("%s: no GenMsgCycleTime and not an Event message" % m.name)
        if not m.comment:
            problems.append("%s: no comment" % m.name)
        for s in m.signals:
            where = "%s.%s" % (m.name, s.name)
            if s.minimum is None or s.maximum is None:
                problems.append("%s: no [min|max]" % where)
                continue
            lo = -(1 << (s.length - 1)) if s.is_signed else 0
            hi = (1 << (s.length - 1)) - 1 if s.is_signed else (1 << s.length) - 1
            ends = sorted((lo * s.scale + s.offset, hi * s.scale + s.offset))
            tol = abs(s.scale) * 1e-6
            if s.minimum < ends[0] - tol or s.maximum > ends[1] + tol:
                problems.append("%s: [%s|%s] exceeds the %d-bit field %s" % (where, s.minimum, s.maximum, s.length, ends))
            flag = s.length == 1
            if not (flag or s.choices or s.unit or UNITLESS.search(s.name)):
                problems.append("%s: no unit" % where)
            if (s.scale != 1 or s.offset != 0) and not s.unit:
                problems.append("%s: scaled but no unit" % where)
    assert problems == []


def test_box_keeps_the_heartbeat_contract():
    db = cantools.database.load_file(os.path.join(gen_can.DBC_DIR, "box.dbc"), strict=True)
    m = db.get_message_by_frame_id(0x500)
    assert m.name == "BoxHeartbeat" and m.cycle_time == 100
    assert [s.name for s in m.signals] == ["UptimeS", "AliveCounter", "SessionState", "FwVersionMajor",
                                           "FwVersionMinor", "FaultActive", "LoopLoadPct"]


def test_box_has_diagnostic_ids_for_isotp():
    db = cantools.database.load_file(os.path.join(gen_can.DBC_DIR, "box.dbc"), strict=True)
    assert db.get_message_by_name("DiagRequest").frame_id == 0x7E0
    assert db.get_message_by_name("DiagResponse").frame_id == 0x7E8
    # a UDS ReadDataByIdentifier single frame decodes through the multiplexer
    d = db.decode_message(0x7E0, bytes.fromhex("0322F190CCCCCCCC"))
    assert d["PciType"] == "SingleFrame" and d["SfDataLength"] == 3 and d["SfData1"] == 0x22


def test_chademo_has_the_issue_message_set():
    db = cantools.database.load_file(os.path.join(gen_can.DBC_DIR, "chademo.dbc"), strict=True)
    ids = {m.frame_id for m in db.messages}
    assert {0x100, 0x101, 0x102, 0x108, 0x109, 0x110, 0x118, 0x200, 0x201, 0x208, 0x209} <= ids
    for m in db.messages:
        assert m.cycle_time == 100 and m.length == 8 and not m.is_extended_frame
        for s in m.signals:
            assert s.byte_order == "little_endian", s.name


# (id, frame, expected physical values) from shared/reference/chademo-can.md section 5
REAL_FRAMES = [
    (0x100, "06 00 00 00 B3 01 64 00", {"MinChargeCurrent": 6, "MaxBatteryVoltage": 435, "ChargedRateReference": 100}),
    (0x101, "00 FF 50 00 00 62 01 00", {"MaxChargingTime10s": 2550, "MaxChargingTimeMin": 80, "RatedBatteryCapacity": 35.4}),
    (0x102, "02 9A 01 1F 00 81 48 00", {"ProtocolNumber": 2, "TargetBatteryVoltage": 410, "ChargingCurrentRequest": 31,
                                        "FaultBatteryOverVoltage": 0, "FaultBatteryVoltageDeviation": 0,
                                        "StatusChargingEnabled": 1, "StatusDischargeCompatible": 1,
                                        "StatusContactorOpen": 0, "ChargedRate": 72}),
    (0x108, "01 F4 01 1F B3 01 00 00", {"WeldingDetectionSupport": 1, "AvailableOutputVoltage": 500,
                                        "AvailableOutputCurrent": 31, "ThresholdVoltage": 435}),
    (0x109, "02 81 01 1F 00 05 FF 4F", {"ProtocolNumber": 2, "PresentOutputVoltage": 385, "PresentOutputCurrent": 31,
                                        "DischargeCompatible": 0, "StatusCharging": 1, "StatusConnectorLocked": 1,
                                        "StatusChargingStopControl": 0, "RemainingChargingTime10s": 2550,
                                        "RemainingChargingTimeMin": 79}),
    (0x110, "01 00 00 00 00 00 00 00", {"DynamicControl": 1, "HighCurrentControl": 0}),
    (0x200, "FF 00 00 00 FA 00 0A 64", {"MaxDischargeCurrent": 0, "MinDischargeVoltage": 250,
                                        "MinBatteryDischargeLevel": 10, "MaxRemainingCapacityForCharging": 100}),
    (0x200, "F0 00 00 00 FA 00 0A 64", {"MaxDischargeCurrent": 15}),
    (0x208, "FF F4 01 F0 00 00 FA 00", {"PresentDischargeCurrent": 0, "AvailableInputVoltage": 500,
                                        "AvailableInputCurrent": 15, "LowerThresholdVoltage": 250}),
    (0x209, "02 05 00 00 00 00 00 00", {"SequenceControlNumber": 2}),
]


@pytest.mark.parametrize("fid,hexdata,expect", REAL_FRAMES, ids=["0x%X:%s" % (f, h[:2]) for f, h, _ in REAL_FRAMES])
def test_chademo_real_frames_decode_correctly(fid, hexdata, expect):
    db = cantools.database.load_file(os.path.join(gen_can.DBC_DIR, "chademo.dbc"), strict=True)
    data = bytes.fromhex(hexdata)
    ref = db.decode_message(fid, data, decode_choices=False)
    ours = chademo.decode(fid, data)
    assert ours == ref
    for k, v in expect.items():
        assert ours[k] == pytest.approx(v), k
    # re-encoding the decoded values gives the frame back, except for bytes
    # that the DBC leaves undeclared (they are sent as 0)
    again = chademo.encode(fid, ours)
    assert again == db.encode_message(fid, ref)
    mask = bytearray(8)
    for s in db.get_message_by_frame_id(fid).signals:
        for b, sh, m, _d in gen_can.segments(s):
            mask[b] |= m << sh
    assert bytes(x & y for x, y in zip(data, mask)) == again


def test_chademo_inverted_current_coding():
    for amps, raw in ((0, 0xFF), (15, 0xF0), (25, 0xE6), (255, 0x00)):
        f = chademo.encode(chademo.ID_ChargerDischargeStatus, {
            "PresentDischargeCurrent": amps, "AvailableInputVoltage": 500,
            "AvailableInputCurrent": amps, "LowerThresholdVoltage": 250})
        assert f[0] == raw and f[3] == raw
