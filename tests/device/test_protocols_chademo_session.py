"""CHAdeMO charger core on the sim CAN port with a scripted car: a short
discharge session start to end, frame order and coding on the wire, and a
comm-loss fault. Runs on CPython and inside MicroPython."""
import firmware  # noqa: F401
from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from tests.device.chademo_scripted_ev import MiniRig


def _run_until(rig, state, max_ms):
    end = rig.now + max_ms
    while rig.now < end:
        rig.tick()
        if rig.core.state == state:
            return True
    return False


def test_happy_path_session_start_to_end():
    rig = MiniRig()
    rig.core.start()
    assert _run_until(rig, ch.ST_DISCHARGING, 10000), rig.core.state_name()
    assert 0 < rig.core.setup_ms < 5000
    for _ in range(200):
        rig.tick()
    assert rig.core.state == ch.ST_DISCHARGING
    assert rig.current == 15 and rig.core.allowed_a == 15   # min(car 15 A, box 30 A)
    rig.core.stop()
    assert _run_until(rig, ch.ST_IDLE, 15000), rig.core.state_name()
    assert rig.core.reason == ch.END_USER_STOP and not rig.core.fault
    assert rig.core.safe()
    kinds = [k for k, v in rig.actions if v]
    # closing order: d1, lock, insulation test, d2, precharge, box contactors
    order = [k for k in kinds if k in (ch.RQ_D1, ch.RQ_LOCK, ch.RQ_INSULATION_TEST, ch.RQ_D2, ch.RQ_PRECHARGE,
                                       ch.RQ_BOX_CONTACTORS)]
    assert order == [ch.RQ_D1, ch.RQ_LOCK, ch.RQ_INSULATION_TEST, ch.RQ_D2, ch.RQ_PRECHARGE, ch.RQ_BOX_CONTACTORS], order
    # releasing order: box contactors, then d2, then d1
    rel = [k for k, v in rig.actions if v == 0 and k in (ch.RQ_BOX_CONTACTORS, ch.RQ_D2, ch.RQ_D1)]
    assert rel.index(ch.RQ_BOX_CONTACTORS) < rel.index(ch.RQ_D2) < rel.index(ch.RQ_D1)


def test_frames_on_the_wire_order_and_coding():
    rig = MiniRig()
    rig.wire = []
    rig.core.start()
    assert _run_until(rig, ch.ST_DISCHARGING, 10000)
    for _ in range(100):
        rig.tick()
    ids = [w[0] for w in rig.wire]
    assert ids and ids[0] == chademo.ID_ChargerCapabilities   # nothing before the first 0x108
    for i, fid in enumerate(ids):
        if fid == chademo.ID_ChargerStatus:
            assert ids[i - 1] == chademo.ID_ChargerCapabilities
    # 0x208/0x209 only after discharge was declared in 0x109, then every cycle
    first_208 = ids.index(chademo.ID_ChargerDischargeStatus)
    declared = [chademo.decode(f, d)["DischargeCompatible"] for f, d, _ in rig.wire[:first_208]
                if f == chademo.ID_ChargerStatus]
    assert declared[0] == 0 and declared[-1] == 1
    for fid, data, cur in rig.wire:
        if fid == chademo.ID_ChargerDischargeStatus:
            assert data[0] == 0xFF - int(cur + 0.5)   # inverted present discharge current (s4)
            assert data[3] == 0xFF - 30               # inverted input current limit: box 30 A
    assert ids[-8:].count(chademo.ID_ChargerDischargeInfo) == 2
    st = rig.link.node.tx_values(chademo.ID_ChargerStatus)
    assert st["PresentOutputVoltage"] == 380      # measured inlet voltage, not the car's 410 V target
    assert st["DischargeCompatible"] == 1 and st["StatusCharging"] == 1 and st["StatusChargingStopControl"] == 0
    assert st["StatusConnectorLocked"] == 1


def test_comm_loss_while_discharging_ends_in_fault_with_everything_released():
    rig = MiniRig()
    rig.core.start()
    assert _run_until(rig, ch.ST_DISCHARGING, 10000)
    # the car goes silent: keep its state but drop its frames
    real_step = rig.ev.step

    def mute(now, d1, d2, current, port):
        real_step(now, d1, d2, current, port)
        port.rx.clear()
    rig.ev.step = mute
    t0 = rig.now
    assert _run_until(rig, ch.ST_FAULT, 10000), rig.core.state_name()
    assert rig.core.reason == ch.END_COMM_LOSS and rig.core.fault
    assert rig.now - t0 < 600 + 4000      # 500 ms supervision, then the short shutdown path
    assert rig.core.safe() and rig.out[ch.RQ_D1] == 0 and rig.out[ch.RQ_D2] == 0
    assert rig.out[ch.RQ_BOX_CONTACTORS] == 0
    assert not rig.core.tx_main and not rig.core.tx_discharge


def test_reset_leaves_fault_only_when_the_inlet_is_dead():
    rig = MiniRig()
    rig.core.start()
    assert _run_until(rig, ch.ST_DISCHARGING, 10000)
    rig.plugged = False
    assert _run_until(rig, ch.ST_FAULT, 10000)
    assert rig.core.reason == ch.END_PLUG_REMOVED
    rig.core.measure(100, 0)
    assert not rig.core.reset() and rig.core.state == ch.ST_FAULT
    rig.core.measure(0, 0)
    assert rig.core.reset() and rig.core.state == ch.ST_IDLE
