"""firmware.can.node on the simulated CAN port: RX dispatch, timeouts,
cyclic TX and ordering, bus-off / error-passive handling. Runs on CPython
and inside MicroPython."""
import firmware  # noqa: F401
from firmware.can import node as cn
from firmware.can.gen import chademo
from firmware.core.ring import Ring
from firmware.hal import interface as hi
from firmware.hal.sim import SimCanPort

CAPS = {"WeldingDetectionSupport": 1, "AvailableOutputVoltage": 500, "AvailableOutputCurrent": 31,
        "ThresholdVoltage": 435}
STATUS = {"ProtocolNumber": 2, "PresentOutputVoltage": 385, "PresentOutputCurrent": 31, "DischargeCompatible": 1,
          "StatusCharging": 1, "StatusChargerMalfunction": 0, "StatusConnectorLocked": 1,
          "StatusBatteryIncompatible": 0, "StatusChargingSystemMalfunction": 0, "StatusChargingStopControl": 0,
          "RemainingChargingTime10s": 2550, "RemainingChargingTimeMin": 79}
EV_STATUS_FRAME = bytes([0x02, 0x9A, 0x01, 0x1F, 0x00, 0x81, 0x48, 0x00])


def _events(ring):
    out = []
    while len(ring):
        out.append(ring.get())
    return out


def _node(**kw):
    port = SimCanPort(**kw)
    ring = Ring(32)
    return port, ring, cn.CanNode(port, events=ring)


def test_rx_dispatch_decodes_and_calls_the_handler():
    port, ring, node = _node()
    seen = []
    vals = node.on_rx(chademo.ID_VehicleStatus, chademo,
                      lambda fid, v, now: seen.append((fid, v["TargetBatteryVoltage"], now)))
    port.inject(chademo.ID_VehicleStatus, EV_STATUS_FRAME)
    port.inject(0x7FF, b"\x00")
    node.poll(5)
    assert seen == [(0x102, 410, 5)]
    assert vals["ChargedRate"] == 72 and vals["StatusDischargeCompatible"] == 1
    assert node.values(chademo.ID_VehicleStatus) is vals
    assert node.rx_unknown == 1 and node.rx_count(chademo.ID_VehicleStatus) == 1


def test_raw_handler_and_unknown_handler():
    port, ring, node = _node()
    raw = []
    unknown = []
    node.on_raw(0x700, lambda fid, data, now: raw.append(bytes(data)))
    node.unknown_handler = lambda fid, data, now: unknown.append(fid)
    port.inject(0x700, b"\x01\x02")
    port.inject(0x123, b"")
    node.poll(0)
    assert raw == [b"\x01\x02"] and unknown == [0x123]


def test_decode_error_raises_an_event_and_does_not_count_as_reception():
    port, ring, node = _node()
    node.on_rx(chademo.ID_VehicleStatus, chademo)
    port.inject(chademo.ID_VehicleStatus, b"\x02\x9a")
    node.poll(0)
    assert _events(ring) == [(cn.NODE_RX_DECODE_ERROR, 0x102)]
    assert node.rx_errors == 1 and node.rx_count(chademo.ID_VehicleStatus) == 0


def test_receive_timeout_raises_once_then_restores():
    port, ring, node = _node()
    node.on_rx(chademo.ID_VehicleStatus, chademo)  # TIMEOUT_MS from the DBC: 500 ms
    assert chademo.TIMEOUT_MS[chademo.ID_VehicleStatus] == 500
    node.poll(0)
    node.poll(10000)
    assert _events(ring) == []  # not supervised before the first frame / supervise()
    port.inject(chademo.ID_VehicleStatus, EV_STATUS_FRAME)
    node.poll(10000)
    node.poll(10500)
    assert _events(ring) == [] and not node.timed_out(chademo.ID_VehicleStatus)
    node.poll(10501)
    node.poll(12000)
    assert _events(ring) == [(cn.NODE_RX_TIMEOUT, 0x102)]
    assert node.timed_out(chademo.ID_VehicleStatus)
    port.inject(chademo.ID_VehicleStatus, EV_STATUS_FRAME)
    node.poll(12100)
    assert _events(ring) == [(cn.NODE_RX_RESTORED, 0x102)]


def test_supervise_starts_the_clock_without_a_frame():
    port, ring, node = _node()
    node.on_rx(chademo.ID_VehicleChargeLimits, chademo, timeout_ms=300)
    node.supervise(1000)
    node.poll(1300)
    assert _events(ring) == []
    node.poll(1301)
    assert _events(ring) == [(cn.NODE_RX_TIMEOUT, 0x100)]
    node.unsupervise()
    node.poll(5000)
    assert _events(ring) == []


def test_events_can_go_to_a_callback():
    got = []
    port = SimCanPort()
    node = cn.CanNode(port, events=lambda k, v: got.append((k, v)))
    node.on_rx(0x100, chademo, timeout_ms=10)
    node.supervise(0)
    node.poll(11)
    assert got == [(cn.NODE_RX_TIMEOUT, 0x100)]


def test_cyclic_tx_follows_the_dbc_cycle_time():
    port, ring, node = _node()
    node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS))
    times = []
    for t in range(0, 1000, 5):
        node.poll(t)
        for f in port.drain():
            times.append(t)
    assert times == list(range(0, 1000, 100))
    assert node.tx_count(chademo.ID_ChargerCapabilities) == 10


def test_fill_callback_updates_values_before_each_frame():
    port, ring, node = _node()
    n = [0]

    def fill(now, v):
        n[0] += 1
        v["PresentOutputCurrent"] = n[0]
    node.add_tx(chademo.ID_ChargerStatus, chademo, dict(STATUS), fill=fill)
    node.poll(0)
    node.poll(100)
    frames = port.drain()
    assert [f[1][3] for f in frames] == [1, 2]


def test_0x108_always_precedes_0x109_even_with_one_mailbox():
    port, ring, node = _node(tx_capacity=1)
    node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS))
    node.add_tx(chademo.ID_ChargerStatus, chademo, dict(STATUS), after=chademo.ID_ChargerCapabilities)
    order = []
    for t in range(0, 1000, 2):
        node.poll(t)
        if t % 6 == 0:  # the "bus" drains the single mailbox only now and then
            order.extend(f[0] for f in port.drain())
    order.extend(f[0] for f in port.drain())
    assert len(order) >= 18
    for i in range(0, len(order) - 1, 2):
        assert order[i] == 0x108 and order[i + 1] == 0x109, order


def test_after_requires_the_predecessor_first_and_same_period():
    port, ring, node = _node()
    try:
        node.add_tx(chademo.ID_ChargerStatus, chademo, dict(STATUS), after=chademo.ID_ChargerCapabilities)
        raise AssertionError("accepted an unknown predecessor")
    except ValueError:
        pass
    node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS), period_ms=50)
    try:
        node.add_tx(chademo.ID_ChargerStatus, chademo, dict(STATUS), after=chademo.ID_ChargerCapabilities)
        raise AssertionError("accepted a different period")
    except ValueError:
        pass


def test_add_tx_rejects_incomplete_values_up_front():
    port, ring, node = _node()
    try:
        node.add_tx(chademo.ID_ChargerCapabilities, chademo, {"ThresholdVoltage": 1})
        raise AssertionError("accepted")
    except ValueError as e:
        assert "missing signal" in str(e)


def test_disabled_frames_are_not_sent_until_enabled():
    port, ring, node = _node()
    node.add_tx(chademo.ID_ChargerDischargeStatus, chademo,
                {"PresentDischargeCurrent": 0, "AvailableInputVoltage": 500, "AvailableInputCurrent": 15,
                 "LowerThresholdVoltage": 250}, enabled=False)
    node.poll(0)
    node.poll(100)
    assert port.drain() == []
    node.set_tx_enabled(chademo.ID_ChargerDischargeStatus, True, 150)
    node.poll(150)
    assert port.drain() == [(0x208, bytes([0xFF, 0xF4, 0x01, 0xF0, 0, 0, 0xFA, 0]), False)]


def test_bad_value_at_runtime_skips_the_frame_and_counts():
    port, ring, node = _node()
    v = node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS))
    v["AvailableOutputVoltage"] = 5000  # above the DBC maximum
    node.poll(0)
    assert port.drain() == [] and node.tx_errors == 1
    v["AvailableOutputVoltage"] = 500
    node.poll(100)
    assert len(port.drain()) == 1


def test_event_send():
    port, ring, node = _node()
    from firmware.can.gen import box
    ok = node.send(box.ID_ToolCommand, box, {"Command": box.Command_Start, "ModeSelect": box.ModeSelect_Outlets,
                                             "CommandCounter": 1})
    assert ok and port.drain() == [(0x510, bytes([0x11, 0x01, 0, 0, 0, 0, 0, 0]), False)]


def test_bus_off_stops_tx_restarts_with_backoff_and_recovers():
    port, ring, node = _node()
    node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS), period_ms=10)
    node.poll(0)
    port.drain()
    port.bus_state = hi.CAN_BUS_OFF
    node.poll(10)
    assert _events(ring) == [(cn.NODE_BUS_OFF, hi.CAN_BUS_OFF)]
    assert port.drain() == [] and node.state() == hi.CAN_BUS_OFF
    node.poll(109)
    assert port.restarts == 0
    node.poll(110)  # 100 ms after bus-off: restart
    assert port.restarts == 1
    node.poll(111)
    assert _events(ring) == [(cn.NODE_BUS_RECOVERED, hi.CAN_ERROR_ACTIVE)]
    assert len(port.drain()) == 1  # transmission resumes at once
    # a second bus-off soon after doubles the wait
    port.bus_state = hi.CAN_BUS_OFF
    node.poll(200)
    node.poll(399)
    assert port.restarts == 1
    node.poll(400)
    assert port.restarts == 2
    assert node.bus_off_count == 2


def test_bus_off_restart_is_retried_while_the_bus_stays_off():
    port, ring, node = _node()
    port.bus_state = hi.CAN_BUS_OFF
    node.poll(0)

    def stuck_restart():
        port.restarts += 1  # controller stays bus-off (e.g. shorted bus)
    port.restart = stuck_restart
    for t in range(0, 1000, 10):
        node.poll(t)
    assert 5 <= port.restarts <= 10


def test_error_passive_is_reported_and_tx_continues():
    port, ring, node = _node()
    node.add_tx(chademo.ID_ChargerCapabilities, chademo, dict(CAPS))
    port.bus_state = hi.CAN_ERROR_PASSIVE
    node.poll(0)
    assert _events(ring) == [(cn.NODE_ERROR_PASSIVE, hi.CAN_ERROR_PASSIVE)]
    assert len(port.drain()) == 1
    port.bus_state = hi.CAN_ERROR_WARNING
    node.poll(50)
    assert _events(ring) == [(cn.NODE_BUS_RECOVERED, hi.CAN_ERROR_WARNING)]


def test_rx_burst_is_bounded_per_poll():
    port = SimCanPort()
    node = cn.CanNode(port, rx_burst=4)
    node.on_rx(chademo.ID_VehicleStatus, chademo)
    for _ in range(10):
        port.inject(chademo.ID_VehicleStatus, EV_STATUS_FRAME)
    node.poll(0)
    assert node.rx_count(chademo.ID_VehicleStatus) == 4
    node.poll(1)
    node.poll(2)
    assert node.rx_count(chademo.ID_VehicleStatus) == 10
