"""The real frames of chademo-can.md s5 (Leaf ZE1 DC charge log, Leaf ZE0
V2X start/stop log) through the CAN node into the core, and the core's own
frames against the logged charger frames."""
from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.protocols.chademo.link import ChademoLink
from firmware.core.ring import Ring
from firmware.hal.sim import SimCanPort

ZE1_100 = bytes.fromhex("06000000B3016400")
ZE1_101 = bytes.fromhex("00FF500000620100")
ZE1_102 = bytes.fromhex("029A011F00814800")
ZE1_108 = bytes.fromhex("01F4011FB3010000")
ZE1_200 = bytes.fromhex("FF000000FA000A64")
ZE0_208 = bytes.fromhex("FFF401F00000FA00")


def _core(**kw):
    port = SimCanPort()
    core = ChademoCharger(Ring(16), **kw)
    link = ChademoLink(core, port)
    return port, core, link


def test_ze1_vehicle_frames_decode_into_the_core():
    port, core, link = _core()
    for fid, data in ((0x100, ZE1_100), (0x101, ZE1_101), (0x102, ZE1_102), (0x200, ZE1_200)):
        port.inject(fid, data)
    link.poll(0)
    assert core.ev_min_charge_a == 6 and core.ev_max_v == 435 and core.ev_ref == 100
    assert core.ev_capacity == 354      # 0.1 kWh
    assert core.ev_protocol == 2 and core.ev_target_v == 410 and core.ev_request_a == 31
    assert core.ev_faults == 0 and core.ev_enabled == 1 and core.ev_v2x == 1
    assert core.ev_contactor_open == 0 and core.ev_stop_req == 0 and core.ev_not_park == 0
    assert core.soc() == 72
    assert core.ev_max_dis_a == 0 and core.ev_min_dis_v == 250 and core.ev_min_level == 10


def test_ze0_status_byte_sequence():
    port, core, link = _core()
    frame = bytearray(ZE1_102)
    seen = []
    for b5 in (0xC8, 0xC9, 0xC1):
        frame[5] = b5
        port.inject(0x102, bytes(frame))
        link.poll(0)
        seen.append((core.ev_v2x, core.ev_contactor_open, core.ev_enabled))
    # C8: V2X + contactor open; C9: + enabled; C1: contactors closed (s5)
    assert seen == [(1, 1, 0), (1, 1, 1), (1, 0, 1)]


def test_ze0_inverted_discharge_current_f0_is_15_a():
    port, core, link = _core()
    port.inject(0x200, bytes.fromhex("F0000000FA000A64"))
    link.poll(0)
    assert core.ev_max_dis_a == 15


def test_fault_bits_use_the_majority_bit_order():
    port, core, link = _core()
    frame = bytearray(ZE1_102)
    frame[4] = 0x01            # bit 0 = over-voltage (Battery-Emulator, ccs32clara, furdog), not chademo-rs
    port.inject(0x102, bytes(frame))
    link.poll(0)
    assert core.ev_faults == 0x01
    frame[4] = 0x10            # bit 4 = voltage deviation
    port.inject(0x102, bytes(frame))
    link.poll(0)
    assert core.ev_faults == 0x10


def test_our_0x108_matches_the_ze1_log():
    port, core, link = _core(max_voltage=500, box_limit_a=31)
    core.on_frame(0x100, chademo.decode(0x100, ZE1_100), 0)
    v = {}
    core.fill_capabilities(0, v)
    assert chademo.encode(chademo.ID_ChargerCapabilities, v) == ZE1_108


def test_our_0x208_matches_the_ze0_log():
    # car minimum discharge voltage 245 V -> lower threshold 245 + 2 % = 250 V; box input limit 15 A
    port, core, link = _core(max_voltage=500, box_limit_a=15)
    core.on_frame(0x200, {"MaxDischargeCurrent": 15, "MinDischargeVoltage": 245, "MinBatteryDischargeLevel": 10,
                          "MaxRemainingCapacityForCharging": 100}, 0)
    core.measure(0, 0.0)
    v = {}
    core.fill_discharge_status(0, v)
    assert chademo.encode(chademo.ID_ChargerDischargeStatus, v) == ZE0_208


def test_our_0x109_status_byte_goes_0x20_then_0x24_with_discharge_declared():
    """ZE0 log: 0x109 byte 4 = 1, status 0x20 (stop control) -> 0x24 (+ locked)."""
    port, core, link = _core()
    core.set_plug(True)
    core.start()
    core.step(0)
    core.grant(ch.RQ_D1, 1)
    for fid, data in ((0x100, ZE1_100), (0x102, bytes.fromhex("029A011F00C94800")), (0x200, ZE1_200)):
        core.on_frame(fid, chademo.decode(fid, data), 10)
    core.set_permission(True)
    for t in (10, 20, 30):
        core.step(t)
    assert core.state == ch.ST_LOCKING
    v = {}
    core.fill_status(30, v)
    data = chademo.encode(chademo.ID_ChargerStatus, v)
    assert data[4] == 0x01 and data[5] == 0x20
    core.grant(ch.RQ_LOCK, 1)
    core.step(40)
    core.fill_status(40, v)
    data = chademo.encode(chademo.ID_ChargerStatus, v)
    assert data[4] == 0x01 and data[5] == 0x24
    assert data[6] == 0xFF                      # remaining time: use the minutes byte


def test_garbled_short_frame_is_a_decode_error_not_a_crash():
    port, core, link = _core()
    port.inject(0x102, b"\x02\x9a")
    link.poll(0)
    assert core._seen == 0 and link.node.rx_errors == 1
