"""Issue 8, CHAdeMO field behaviour: what real Leafs do that the bench's car
did not, against the real firmware on the discharge bench."""
import pytest

from firmware.can.gen import chademo
from firmware.charging import table as T
from firmware.protocols.chademo import charger as ch
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.core.ring import Ring
from hil.rigs.discharge import DischargeRig
from hil.vehicles.chademo_car import ChademoCar


def _supplying(car, load_w=2000.0):
    b = DischargeRig(car=car, load_w=load_w)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING, 20000), b.state_names()
    return b


def test_a_discharging_box_offers_no_charge_current_so_the_car_asks_for_none():
    """A Leaf requests min(its wish, 0x108 available current) and flags a
    current deviation when 0x109 stays >= 10 A off for 5 s. While discharging
    the box offers 0 A of charge current."""
    b = _supplying(ChademoCar(soc=70, charge_request_a=14))
    b.run(8000)
    assert not any(b.car.faults.values()), b.car.faults
    assert b.state == T.SUPPLYING and not b.app.power.core.fault
    caps = b.app.power.link.node.tx_values(chademo.ID_ChargerCapabilities)
    assert caps["AvailableOutputCurrent"] == 0


def _core_with_0x200(lo, hi, capacity_kwh, soc):
    core = ChademoCharger(Ring(8))
    core.on_frame(0x100, {"MinChargeCurrent": 0, "MaxBatteryVoltage": 435, "ChargedRateReference": 100}, 0)
    core.on_frame(0x101, {"RatedBatteryCapacity": capacity_kwh}, 0)
    core.on_frame(0x200, {"MaxDischargeCurrent": 15, "MinDischargeVoltage": 250,
                          "MinBatteryDischargeLevel": lo, "MaxRemainingCapacityForCharging": hi}, 0)
    v = {"ProtocolNumber": 2, "TargetBatteryVoltage": 410, "ChargingCurrentRequest": 0,
         "StatusChargingEnabled": 1, "StatusShiftNotPark": 0, "StatusChargingSystemFault": 0,
         "StatusContactorOpen": 0, "StatusNormalStopRequest": 0, "StatusDischargeCompatible": 1,
         "ChargedRate": soc}
    for name in ("FaultBatteryOverVoltage", "FaultBatteryUnderVoltage", "FaultBatteryCurrentDeviation",
                 "FaultHighBatteryTemperature", "FaultBatteryVoltageDeviation"):
        v[name] = 0
    core.on_frame(0x102, v, 0)
    return core


@pytest.mark.parametrize("lo, hi, cap, floor", [
    (67, 178, 22.2, 31),     # real Leaf V2X session: only 0.1 kWh makes sense (30.2 % / 80.2 %) -> rounded up
    (10, 100, 35.4, 10),     # Leaf ZE1 log: both readings possible -> the higher floor (10 % vs 2.8 %)
    (30, 0, 40.0, 30),       # byte 7 not used, both possible -> 30 % (vs 7.5 %)
    (120, 255, 0.0, 100),    # no reading makes sense and no capacity: no discharge
])
def test_the_0x200_levels_are_read_in_the_unit_that_makes_sense(lo, hi, cap, floor):
    core = _core_with_0x200(lo, hi, cap, 70)
    assert core.min_level_pct() == floor


def test_the_leaf_v2x_levels_no_longer_stop_the_session_at_67_percent():
    b = _supplying(ChademoCar(soc=50, capacity_kwh=22.2, min_discharge_level=30, max_remaining_pct=80,
                              level_units="0.1kWh"))
    b.run(3000)
    assert b.state == T.SUPPLYING, (b.state_names(), b.app.power.core.reason_name())
    assert b.app.power.core.reason == ch.END_NONE
