"""Each reason to end a discharge session, triggered the way it happens on
the bench (the car, the plant, the supervisor or the user), ends with its
own reason code through the ordered shutdown, everything released."""
import pytest

from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from firmware.hal import interface as hi
from hil.vehicles.chademo_car import ChademoCar

from tests.chademo.util import at, discharging, released, rig, until_end


def _ends(r, reason, fault, max_ms=30000):
    until_end(r, max_ms)
    assert r.core.reason == reason, (r.core.reason_name(), r.states)
    assert r.core.fault is fault
    assert r.core.state == (ch.ST_FAULT if fault else ch.ST_IDLE)
    assert released(r)
    if r.car.opened_under_load:
        raise AssertionError("car contactors opened under load")
    return r


def _seq(r):
    names = r.state_names()
    return names[names.index("Discharging"):] if "Discharging" in names else names


# ---------------------------------------------------------------- normal stops while discharging
def test_user_stop():
    r = discharging()
    r.run(1000)
    r.core.stop()
    _ends(r, ch.END_USER_STOP, False)
    assert _seq(r) == ["Discharging", "Stopping", "WeldingDetection", "OpeningBoxContactors", "Ending", "Idle"]
    assert r.car.welding_check_ok is True


def test_car_normal_stop_request():
    r = discharging()
    r.car.request_stop()
    _ends(r, ch.END_EV_STOP_REQUEST, False)


def test_car_clears_charging_enabled():
    r = discharging()
    r.car.clear_enable()
    _ends(r, ch.END_EV_DISABLED, False)


def test_car_releases_k():
    r = discharging()
    r.car.drop_k()
    _ends(r, ch.END_PERMISSION_LOST, False)


def test_shift_out_of_park():
    r = discharging()
    r.car.shift_out_of_park()
    _ends(r, ch.END_SHIFT_NOT_PARK, False)


def test_soc_floor():
    car = ChademoCar(soc=10.6, capacity_kwh=1.0, min_discharge_level=10)
    r = discharging(car)
    _ends(r, ch.END_SOC_FLOOR, False)
    assert round(car.soc) <= 10 and car.soc > 9.5      # stopped at the floor, not far below


def test_lower_threshold_as_the_battery_sags():
    # car minimum 370 V -> our lower threshold 370 + 2 % = 378 V; 380 V battery under 15 A sags towards it
    car = ChademoCar(battery_v=380.0, min_discharge_v=370, capacity_kwh=2.0, volts_per_pct=4.0)
    r = discharging(car)
    assert r.core.lower_threshold_v() == 378
    _ends(r, ch.END_LOWER_THRESHOLD, False)
    assert r.rx and car.terminal_v(15) <= 379


def test_min_discharge_voltage_on_a_sudden_drop():
    r = discharging()
    r.hooks.append(at(500, lambda x: setattr(x.plant, "v_offset", 240.0 - x.plant.inlet_v)))
    _ends(r, ch.END_MIN_DISCHARGE_VOLTAGE, False)


def test_car_allows_zero_current_for_a_second():
    car = ChademoCar()
    r = discharging(car)
    r.run(1000)
    car.max_discharge_a = 0
    t0 = r.now
    r.run_until(lambda x: x.core.state != ch.ST_DISCHARGING, 5000)
    assert 1000 <= r.now - t0 <= 1300              # 0x200 frame latency + 1 s (s6 #11)
    _ends(r, ch.END_EV_CURRENT_ZERO, False)


def test_incompatible_battery_voltage():
    car = ChademoCar()
    car.lie_voltage(600)                           # above our 500 V
    r = rig(car)
    _ends(r, ch.END_INCOMPATIBLE, False)
    st = [v for _, v in r.decoded_tx(chademo.ID_ChargerStatus)]
    assert st and st[-1]["StatusBatteryIncompatible"] == 1 and st[-1]["StatusChargingStopControl"] == 1
    assert not any(k == ch.RQ_D2 for _, k, _ in r.actions) and car.enabled is False


def test_car_without_v2x_is_incompatible():
    r = rig(ChademoCar(v2x=False))
    _ends(r, ch.END_INCOMPATIBLE, False)
    assert r.state_names()[-3:] == ["CheckCompatibility", "Ending", "Idle"]


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("bit", ["FaultBatteryOverVoltage", "FaultHighBatteryTemperature"])
def test_vehicle_fault_bits(bit):
    r = discharging()
    r.car.set_fault(bit)
    _ends(r, ch.END_EV_FAULT, True)


def test_vehicle_charging_system_fault():
    r = discharging()
    r.car.set_fault("ChargingSystemFault")
    _ends(r, ch.END_EV_SYSTEM_FAULT, True)


def test_wrong_voltage_report_makes_the_car_flag_voltage_deviation():
    # a box whose inlet sensor reads 30 V high reports 30 V off: the car flags it (s7)
    r = discharging()
    r.plant.v_offset = 30.0
    _ends(r, ch.END_EV_FAULT, True)
    assert r.car.faults["FaultBatteryVoltageDeviation"] == 1


def test_wrong_current_report_makes_the_car_flag_current_deviation():
    r = discharging()
    r.plant.i_offset = 10.0                        # 0x208 reads 25 A while 15 A flow; not over our own limit
    t0 = r.now
    _ends(r, ch.END_EV_FAULT, True)
    assert r.car.faults["FaultBatteryCurrentDeviation"] == 1
    assert next(t for t, s in r.states if s == "Stopping") - t0 >= 5000


def test_overcurrent_measured_by_the_box():
    r = discharging()
    r.run(1000)                                    # at 15 A
    r.plant.i_offset = 12.0                        # 27 A measured against 15 A allowed
    t0 = r.now
    _ends(r, ch.END_OVERCURRENT, True)
    assert 1000 <= next(t for t, s in r.states if s == "Stopping") - t0 <= 1100


def test_car_opens_its_contactors_under_load():
    car = ChademoCar()
    r = discharging(car)
    r.run(500)
    car.open_contactors()
    assert car.opened_under_load == 1
    until_end(r)
    assert r.core.reason == ch.END_EV_CONTACTORS_OPENED and r.core.state == ch.ST_FAULT and released(r)


def test_comm_loss():
    r = discharging()
    r.car.silence()
    t0 = r.now
    _ends(r, ch.END_COMM_LOSS, True)
    assert _seq(r)[1:3] == ["Stopping", "OpeningBoxContactors"]   # the car is gone: no welding detection
    t_stop = next(t for t, s in r.states if s == "Stopping")
    assert 500 <= t_stop - t0 <= 700               # DBC timeout 500 ms (5 cycles)


def test_bus_off():
    r = discharging()
    r.port.bus_state = hi.CAN_BUS_OFF
    _ends(r, ch.END_BUS_OFF, True)


def test_plug_removed():
    r = discharging()
    r.plug(False)
    until_end(r)
    assert r.core.reason == ch.END_PLUG_REMOVED and r.core.state == ch.ST_FAULT and released(r)


def test_box_fault():
    r = discharging()
    r.core.box_fault(7)
    _ends(r, ch.END_BOX_FAULT, True)
    st = r.decoded_tx(chademo.ID_ChargerStatus)
    assert any(v["StatusChargerMalfunction"] for _, v in st)


def test_supervisor_refuses_the_lock():
    r = rig(sup_kw={"deny": [ch.RQ_LOCK]})
    _ends(r, ch.END_DENIED, True)
    assert r.core.denied_kind == ch.RQ_LOCK


def test_insulation_fault():
    r = rig(sup_kw={"insulation_ok": False})
    _ends(r, ch.END_INSULATION_FAULT, True)
    assert not any(k == ch.RQ_D2 and v for _, k, v in r.actions)


def test_permission_before_can_is_implausible():
    r = rig()
    r.k_override = True
    _ends(r, ch.END_PERMISSION_BEFORE_CAN, True)


def test_voltage_on_the_inlet_before_d2_means_welded_ev_contactors():
    r = rig()
    r.plant.v_offset = 30.0
    _ends(r, ch.END_EV_CONTACTORS_WELDED, True, max_ms=40000)
    assert not any(k == ch.RQ_D2 and v for _, k, v in r.actions)


def test_car_reporting_closed_contactors_before_d2():
    car = ChademoCar()
    car.claim_contactors_closed()
    r = rig(car)
    _ends(r, ch.END_EV_CONTACTOR_STATE, True)
    assert not any(k == ch.RQ_D2 and v for _, k, v in r.actions)
