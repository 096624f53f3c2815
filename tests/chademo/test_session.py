"""Full CHAdeMO V2X sessions: firmware core + link against the simulated
car (hil/vehicles/chademo_car.py), through CAN frames, in simulated time."""
from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from hil.vehicles.chademo_car import ChademoCar

from tests.chademo.util import action_log, discharging, released, rig, until_end

SEQUENCE = ["Idle", "WaitVehicleCan", "CheckCompatibility", "WaitChargePermission", "Locking", "InsulationTest",
            "WaitEvContactorsClosed", "ClosingBoxContactors", "WaitCurrentRequest", "Discharging", "Stopping",
            "WeldingDetection", "OpeningBoxContactors", "Ending", "Idle"]


def _t(r, name):
    return next(t for t, s in r.states if s == name)


def test_happy_path_follows_the_sequence_and_its_timings():
    car = ChademoCar(soc=72, max_discharge_a=15)
    r = discharging(car)
    setup = r.core.setup_ms
    assert 0 < setup < 8000
    r.run(20000)
    assert r.core.state == ch.ST_DISCHARGING
    assert abs(r.plant.current - 15) < 1e-6 and r.core.allowed_a == 15   # min(car 15, box 30)
    assert car.soc < 72 and not any(car.faults.values()) and not car.sys_fault
    r.core.stop()
    until_end(r)
    assert r.state_names() == SEQUENCE
    assert r.core.reason == ch.END_USER_STOP and not r.core.fault and r.core.state == ch.ST_IDLE
    assert released(r) and not r.sup.lock
    # s6 timings
    t_d1 = _t(r, "WaitVehicleCan")
    assert _t(r, "Locking") - t_d1 <= 8000                    # k + b0 within 8 s of d1
    assert _t(r, "WaitEvContactorsClosed") - _t(r, "Locking") <= 20000   # d2 within 20 s of k
    assert _t(r, "ClosingBoxContactors") - _t(r, "WaitEvContactorsClosed") <= 4000
    assert _t(r, "Discharging") - _t(r, "WaitCurrentRequest") <= 4000
    log = action_log(r)
    d2_off = next(t for t, k, v in log if k == "d2" and v == 0)
    d1_off = next(t for t, k, v in log if k == "d1" and v == 0)
    assert d1_off - d2_off >= 500                              # s6 #14
    box_open = next(t for t, k, v in log if k == "box-contactors" and v == 0)
    assert box_open <= d2_off
    # the car ended cleanly: welding check passed, nothing opened under load
    assert car.end_reason == "charger-stop" and car.welding_check_ok is True and car.opened_under_load == 0


def test_charger_frames_during_the_session():
    r = discharging(ChademoCar(battery_v=380.0))
    r.run(1000)
    ids = r.tx_ids()
    first_rx = r.rx[0][0]
    assert r.tx[0][0] >= first_rx                              # nothing before the car spoke (s1)
    for i, fid in enumerate(ids):
        if fid == chademo.ID_ChargerStatus:
            assert ids[i - 1] == chademo.ID_ChargerCapabilities
    status = r.decoded_tx(chademo.ID_ChargerStatus)
    # discharge declared only after the car's discovery (b0 + k), s7 ZE0 quirk
    t_decl = next(t for t, v in status if v["DischargeCompatible"])
    assert t_decl >= _t(r, "Locking")
    # from the declaration on, 0x208 and 0x209 every cycle
    for fid in (chademo.ID_ChargerDischargeStatus, chademo.ID_ChargerDischargeInfo):
        ts = [t for t, f, _ in r.tx if f == fid]
        assert ts[0] >= t_decl
        assert all(b - a == 100 for a, b in zip(ts, ts[1:]))
    last = status[-1][1]
    assert last["StatusCharging"] == 1 and last["StatusChargingStopControl"] == 0 and last["StatusConnectorLocked"] == 1
    # present voltage is the measured inlet voltage (~378.5 V under 15 A), not the car's 410 V target (s7)
    assert abs(last["PresentOutputVoltage"] - r.plant.inlet_v) <= 1 and last["PresentOutputVoltage"] < 400
    ds = r.decoded_tx(chademo.ID_ChargerDischargeStatus)[-1][1]
    assert ds["PresentDischargeCurrent"] == 15 and ds["AvailableInputCurrent"] == 30
    assert ds["LowerThresholdVoltage"] == 255                  # car 250 V + 2 %


def test_keepalive_pulses_keep_a_leaf_alive_past_six_minutes():
    car = ChademoCar(capacity_kwh=1000.0)
    r = discharging(car, dt_ms=50)
    r.run(7 * 60 * 1000)
    assert r.core.state == ch.ST_DISCHARGING and car.end_reason is None
    pulses = [t for t, v in r.decoded_tx(chademo.ID_ChargerStatus) if v["PresentOutputCurrent"] == 1]
    assert len(pulses) >= 6
    assert all(55000 <= b - a <= 65000 for a, b in zip(pulses, pulses[1:]))


def test_without_keepalive_the_car_ends_the_session():
    car = ChademoCar(capacity_kwh=1000.0, keepalive_timeout_ms=30000)   # shorter than our 60 s pulse
    r = discharging(car, dt_ms=50)
    until_end(r, 60000)
    assert car.end_reason == "keepalive"
    assert r.core.reason == ch.END_EV_DISABLED and r.core.state == ch.ST_IDLE


def test_ze0_that_hangs_on_an_early_discharge_flag_still_completes():
    car = ChademoCar(hang_on_early_discharge=True)
    r = discharging(car)
    assert car.hung_reason is None


def test_a_second_session_after_the_first():
    car = ChademoCar()
    r = discharging(car)
    r.core.stop()
    until_end(r)
    r.run(2000)          # the car's frames stop; no fault from RX supervision while idle
    assert r.core.state == ch.ST_IDLE and r.core.reason == ch.END_USER_STOP
    r.core.start()
    assert r.run_until(lambda x: x.core.state == ch.ST_DISCHARGING, 15000), r.states
    assert r.core.session == 2 and r.core.reason == ch.END_NONE


def test_box_limit_caps_the_discharge_current():
    r = discharging(ChademoCar(max_discharge_a=40), core_kw={"box_limit_a": 30})
    r.run(2000)
    assert r.core.allowed_a == 30 and abs(r.plant.current - 30) < 1e-6
    r.core.set_box_limit(12)
    r.run(1000)
    assert r.core.allowed_a == 12 and abs(r.plant.current - 12) < 1e-6


def test_no_start_without_plug():
    r = rig()
    r.plug(False)
    r.run(3000)
    assert r.core.state == ch.ST_IDLE and r.actions == []
    r.plug(True)
    r.run(100)
    assert r.core.state == ch.ST_WAIT_VEHICLE_CAN


def test_stop_while_a_slow_precharge_is_pending_leaves_nothing_applied():
    """A release that overtakes a slower pending request wins (regression: the stand-in
    supervisor once applied the older precharge request after its release)."""
    car = ChademoCar(max_discharge_a=1)
    r = rig(car)
    assert r.run_until(lambda x: x.core.state == ch.ST_CLOSING_BOX_CONTACTORS, 15000)
    car.drop_k()
    until_end(r)
    r.run(1000)
    assert r.core.reason == ch.END_PERMISSION_LOST and released(r)
