"""Every wait of the charger-side sequence has a limit: each one, when
exceeded, ends the session in Fault with its own reason code and with
d1/d2/contactors released."""
import pytest

from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from hil.vehicles.chademo_car import ChademoCar

from tests.chademo.util import at, discharging, released, rig, until_end


def _fault(r, reason, max_ms=40000):
    until_end(r, max_ms)
    assert r.core.state == ch.ST_FAULT, r.states
    assert r.core.fault and r.core.fault_reason == reason, (ch.REASON_NAMES[r.core.fault_reason], r.states)
    assert released(r)
    return r


def _elapsed(r, from_state, to_state="Ending"):
    t0 = next(t for t, s in r.states if s == from_state)
    t1 = next(t for t, s in r.states if s == to_state and t >= t0)
    return t1 - t0


def test_car_never_speaks():
    car = ChademoCar()
    car.silence()
    r = _fault(rig(car), ch.END_TIMEOUT_VEHICLE_CAN)
    assert 8000 <= _elapsed(r, "WaitVehicleCan") <= 8100
    assert r.tx == []                       # the charger never started transmitting


def test_car_never_sends_its_discharge_limits():
    r = rig(ChademoCar())
    r.drop_ids.add(chademo.ID_VehicleDischargeLimits)
    r = _fault(r, ch.END_TIMEOUT_VEHICLE_CAN)
    assert r.state_names()[:3] == ["Idle", "WaitVehicleCan", "CheckCompatibility"]


def test_no_charge_permission_within_8_s_of_d1():
    r = _fault(rig(ChademoCar(ready_ms=9000)), ch.END_TIMEOUT_PERMISSION)
    assert 8000 <= _elapsed(r, "WaitVehicleCan") <= 8100


def test_lock_never_confirmed():
    r = _fault(rig(sup_kw={"ignore": [ch.RQ_LOCK]}), ch.END_TIMEOUT_LOCK)
    assert 2000 <= _elapsed(r, "Locking") <= 2100


def test_insulation_test_never_finishes_so_no_d2_within_20_s_of_k():
    r = _fault(rig(sup_kw={"ignore": [ch.RQ_INSULATION_TEST]}), ch.END_TIMEOUT_D2)
    t_k = next(t for t, s in r.states if s == "Locking")
    assert 20000 <= _elapsed(r, "Locking") <= 20100 and t_k > 0
    assert not any(k == ch.RQ_D2 and v for _, k, v in r.actions)


def test_ev_contactors_not_closed_within_4_s_of_d2():
    r = _fault(rig(ChademoCar(contactor_ms=5000)), ch.END_TIMEOUT_EV_CONTACTORS)
    assert 4000 <= _elapsed(r, "WaitEvContactorsClosed") <= 4100


def test_car_claims_closed_contactors_but_no_voltage_appears():
    car = ChademoCar(contactor_ms=60000)
    r = rig(car)
    r.hooks.append(lambda x: car.claim_contactors_closed() if x.sup.d2 else None)
    _fault(r, ch.END_TIMEOUT_EV_CONTACTORS)


def test_precharge_never_matches():
    # a patient car (it would otherwise give up first: the charger must start within 0.5 s of its request)
    r = _fault(rig(ChademoCar(discharge_ready_ms=10000), sup_kw={"ignore": [ch.RQ_PRECHARGE]}),
               ch.END_TIMEOUT_BOX_CONTACTORS)
    assert 5000 <= _elapsed(r, "ClosingBoxContactors") <= 5100
    assert not any(k == ch.RQ_BOX_CONTACTORS and v for _, k, v in r.actions)


def test_car_never_allows_discharge():
    r = _fault(rig(ChademoCar(max_discharge_a=0)), ch.END_TIMEOUT_CURRENT_REQUEST)
    assert 4000 <= _elapsed(r, "WaitCurrentRequest", "Stopping") <= 4100


def test_current_does_not_fall_after_stop():
    r = discharging()
    r.plant.i_offset = 20.0                 # the measured current stays >= 20 A
    r.core.stop()
    _fault(r, ch.END_TIMEOUT_STOP_CURRENT)
    assert r.core.reason == ch.END_USER_STOP
    assert 2500 <= _elapsed(r, "Stopping", "WeldingDetection") <= 2600


def test_car_never_opens_its_contactors_for_welding_detection():
    r = discharging(ChademoCar(open_ms=60000))
    r.core.stop()
    _fault(r, ch.END_TIMEOUT_WELDING)
    assert 10000 <= _elapsed(r, "WeldingDetection", "OpeningBoxContactors") <= 10100


def test_box_contactors_never_report_open():
    r = discharging(sup_kw={"ignore": [(ch.RQ_BOX_CONTACTORS, 0)]})
    r.core.stop()
    until_end(r)
    assert r.core.state == ch.ST_FAULT and r.core.fault_reason == ch.END_BOX_CONTACTORS_STUCK
    assert 1000 <= _elapsed(r, "OpeningBoxContactors") <= 1100
    assert r.core.req[ch.RQ_D2] == 0 and r.core.req[ch.RQ_D1] == 0   # the core still released the car


def test_inlet_stays_live_after_the_end_keeps_the_lock():
    r = discharging()
    r.core.stop()
    r.hooks.append(lambda x: setattr(x.plant, "v_offset", 100.0) if x.core.state == ch.ST_ENDING else None)
    until_end(r)
    assert r.core.state == ch.ST_FAULT and r.core.fault_reason == ch.END_TIMEOUT_END_VOLTAGE
    assert r.core.reason == ch.END_USER_STOP
    assert r.sup.lock and r.core.req[ch.RQ_LOCK] == 1
    assert not (r.sup.d1 or r.sup.d2 or r.sup.box)
    assert not r.core.reset()               # refused while the inlet reads >= 60 V
    r.plant.v_offset = 0.0
    r.run(100)
    assert r.core.reset() and r.core.state == ch.ST_IDLE
    r.run(100)
    assert not r.sup.lock


@pytest.mark.parametrize("kind", [ch.RQ_D1, ch.RQ_D2])
def test_supervisor_never_confirms_a_signal_line(kind):
    r = _fault(rig(sup_kw={"ignore": [(kind, 1)]}), ch.END_TIMEOUT_GRANT)
    assert not any(k == ch.RQ_BOX_CONTACTORS and v for _, k, v in r.actions)


def test_timeouts_use_the_sequence_numbers_of_the_reference():
    assert (ch.T_PERMISSION_MS, ch.T_D2_AFTER_K_MS, ch.T_EV_CONTACTORS_MS, ch.T_CURRENT_REQUEST_MS) == \
        (8000, 20000, 4000, 4000)
    assert (ch.T_NO_REQUEST_MS, ch.T_STOP_CURRENT_MS, ch.T_WELDING_MS, ch.T_D1_AFTER_D2_MS) == \
        (1000, 2500, 10000, 500)


def test_late_stop_by_hook_helper_runs_once():
    calls = []
    r = rig()
    r.hooks.append(at(50, lambda x: calls.append(x.now)))
    r.run(500)
    assert calls == [60]
