"""The scripted EVCC's car behaviours against the firmware SECC (hil/ccs/din_rig.py),
each with the case that fails and the SECC setting that keeps the car content."""
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles
from hil.ccs import din_rig


def _names(rec):
    return [n for n, _c in rec["requests"]]


def test_car_that_needs_real_inlet_voltage_waits_in_precharge_and_gives_up_on_a_weak_source():
    port = P.SimPort(slew_v_per_s=20.0)
    rec, ev, port, secc = din_rig.run({"real_precharge": True}, port=port)
    assert ev.result.startswith("PreCharge timeout"), ev.log
    assert not port.closed() and "CurrentDemandReq" not in _names(rec)
    # every PreChargeRes reported the measured voltage, never the target
    assert "reported" in ev.result and abs(float(ev.result.split("reported ")[1].split(" V")[0]) -
                                            float(ev.result.split("real ")[1].split(" V")[0])) <= 1


def test_car_that_needs_real_inlet_voltage_closes_after_a_physical_precharge():
    rec, ev, port, secc = din_rig.run({"real_precharge": True, "battery_v": 400.0})
    assert ev.result == "completed", ev.log
    assert port.battery_v == 400.0


def test_car_ends_the_loop_on_its_own_timer():
    rec, ev, port, secc = din_rig.run({"loops": 0, "loop_limit_ms": 3000})
    assert ev.result == "completed"
    assert any("loop time limit" in x for _t, x in ev.log)
    assert 25 <= rec["current_demand_loops"] <= 32


def test_current_comparing_car_aborts_on_a_fixed_report_and_accepts_the_measured_one():
    car = {"loops": 0, "loop_limit_ms": 6000, "current_diff_a": 3.0, "current_diff_ms": 1000}
    rec, ev, port, secc = din_rig.run(car, cfg={"profile": "generic"})
    assert ev.result == "FAILED_ChargingCurrentdifferential", ev.log
    assert rec["energy_wh"] > 0 and not port.closed()          # the SECC stopped the port when the car left
    rec, ev, port, secc = _run_with_profile(car, dict(profiles.DEFAULT, reported_current="measured"))
    assert ev.result == "completed", ev.log


def _run_with_profile(car, prof):
    orig = profiles.recognise
    profiles.recognise = lambda *a, **k: dict(prof)
    try:
        return din_rig.run(car, cfg={"profile": "auto"})
    finally:
        profiles.recognise = orig


def test_zero_current_timeout_and_the_one_amp_floor():
    car = {"loops": 0, "loop_limit_ms": 4000, "zero_current_ms": 2000}
    rec, ev, port, secc = _run_with_profile(car, dict(profiles.DEFAULT, reported_a=0.0, min_reported_a=0.0))
    assert ev.result == "zero current timeout", ev.log
    rec, ev, port, secc = din_rig.run(car)
    assert ev.result == "completed", ev.log


def test_tesla_namespace_offered_first_gets_din_and_the_tesla_profile():
    rec, ev, port, secc = din_rig.run({"namespaces": ("urn:tesla:din:2018:MsgDef", "urn:din:70121:2012:MsgDef")})
    assert ev.result == "completed", ev.log
    assert rec["profile"] == "tesla-din" and rec["offered"][0] == "urn:tesla:din:2018:MsgDef"


def test_dc_core_car_completes():
    rec, ev, port, secc = din_rig.run({"energy_transfer": "DC_core"})
    assert ev.result == "completed", ev.log


def test_impatient_charge_parameter_discovery_is_answered_in_time():
    rec, ev, port, secc = din_rig.run({"cpd_patience_ms": 400})
    assert ev.result == "completed", ev.log


def test_car_that_aborts_on_invalid_or_absent_isolation_gets_valid_after_the_test():
    rec, ev, port, secc = din_rig.run({"bad_isolation": ("Invalid", "absent", "Warning")})
    assert ev.result == "completed", ev.log
    # and a failing IMD is reported as such: the car is told Fault, never Valid
    rec, ev, port, secc = din_rig.run({}, port=P.SimPort(isolation_result=P.ISO_FAULT))
    assert "CableCheckRes FAILED" in ev.result, ev.log
    assert not port.closed()


def test_soc_floor_stops_with_evse_shutdown():
    rec, ev, port, secc = din_rig.run({"loops": 0, "soc": 24, "soc_per_loop": 1.0})
    assert ev.result == "completed", ev.log
    assert rec["stop_requested"] == "soc-floor"
    assert any("EVSE_Shutdown" in x for _t, x in ev.log)


def test_welding_detection_sees_the_link_fall_below_60_v():
    rec, ev, port, secc = din_rig.run({})
    assert ev.result == "completed"
    assert port.inlet_v() < 60
