"""The inverter's supervisory loop (CPython and MicroPython): profile, RMS
trim, power budget, energy accounting, J1772 offer, V2H/V2V permits."""
import firmware  # noqa: F401
from firmware.can.gen import power_stage as ps
from inverter.controller import supervisory as SV


def _near(a, b, tol):
    return abs(a - b) <= tol


def _fed(sv, now, v_in=380.0, i_in=0.0, v_ac=230.0, p_ac=0.0, temp=40.0):
    sv.rx(ps.ID_PsDcDcStatus, {"InletVoltage": v_in, "InletCurrent": i_in, "DcLinkVoltage": 420.0,
                               "DcDcState": 2, "DcDcDerating": 0, "AliveCounter": 0}, now)
    sv.rx(ps.ID_PsInverterStatus, {"AcVoltageRms": v_ac, "AcCurrentRms": p_ac / 230.0,
                                   "AcFrequency": 50.0, "AcActivePower": p_ac}, now)
    sv.rx(ps.ID_PsTemperatures, {"TempDcDcPrimary": temp, "TempDcDcSecondary": 30, "TempTransformer": 30,
                                 "TempInverterBridge": 30, "TempAcFilter": 30, "TempPscMcu": 30,
                                 "FanDuty": 0}, now)


def _sv(profile=SV.PROFILE_230_50, max_w=3600, floor=20):
    sv = SV.Supervisory(profile, max_w, floor)
    sv.car_limits(max_i_a=25.0, max_p_w=20000.0, min_v=300.0, soc_pct=60.0)
    return sv


def test_profiles_set_voltage_and_frequency():
    for prof, v, f in ((SV.PROFILE_120_60, 120.0, 60.0), (SV.PROFILE_230_50, 230.0, 50.0),
                       (SV.PROFILE_120_240_SPLIT, 240.0, 60.0)):
        sv = _sv(prof, 3600)
        _fed(sv, 0, v_ac=v)
        sv.tick(0, False)
        assert sv.inv["AcVoltageSetpoint"] == v and sv.inv["AcFrequencySetpoint"] == f


def test_bad_configuration_refused():
    for args in ((7, 3600, 20), (SV.PROFILE_120_60, 7200, 20), (SV.PROFILE_230_50, 0, 20),
                 (SV.PROFILE_230_50, 3600, 100)):
        try:
            SV.Supervisory(*args)
        except ValueError:
            continue
        assert False, args


def test_rms_trim_pulls_the_output_to_nominal_and_is_bounded():
    sv = _sv()
    t = 0
    for _ in range(300):                      # 3 s at 100 Hz, output reads 2 % low
        _fed(sv, t, v_ac=225.4)
        sv.tick(t, True)
        t += 10
    assert sv.v_set > 230.0 + 0.02 * 230 * 0.9
    assert sv.v_set <= 230.0 * (1 + SV.TRIM_MAX_PCT / 100) + 1e-6
    for _ in range(1000):                     # output very low: trim stays at its bound
        _fed(sv, t, v_ac=180.0)
        sv.tick(t, True)
        t += 10
    assert _near(sv.v_set, 230.0 * 1.03, 1e-6)


def test_no_trim_on_stale_measurement():
    sv = _sv()
    _fed(sv, 0, v_ac=220.0)
    for t in range(200, 3000, 10):
        sv.tick(t, True)
    assert sv.trim == 0.0


def test_budget_limited_by_the_car_and_config():
    sv = _sv(max_w=3600)
    _fed(sv, 0)
    sv.tick(0, True)
    assert _near(sv.budget_w, 3600.0, 1e-6)
    assert _near(sv.inv["AcCurrentLimit"], 3600.0 / 230.0, 1e-3)
    sv.car_limits(max_i_a=5.0, max_p_w=20000.0, min_v=300.0, soc_pct=60.0)
    sv.tick(10, True)
    assert _near(sv.budget_w, 5.0 * 380.0 * SV.DCDC_EFF_EST, 1e-6)
    assert sv.dcdc["InletCurrentLimit"] <= 5.0
    assert sv.dcdc["InletVoltageMin"] == 305.0


def test_budget_tapers_to_the_soc_floor_and_stops():
    sv = _sv()
    _fed(sv, 0)
    sv.car_limits(25.0, 20000.0, 300.0, 21.0)           # 1 % above the 20 % floor
    sv.tick(0, True)
    assert _near(sv.budget_w, 1800.0, 1e-6)
    sv.car_limits(25.0, 20000.0, 300.0, 20.0)
    sv.tick(10, True)
    assert sv.budget_w == 0.0 and sv.stop_reason == "SoC floor reached"


def test_budget_derates_with_temperature_and_needs_fresh_inputs():
    sv = _sv()
    _fed(sv, 0, temp=77.5)
    sv.tick(0, True)
    assert _near(sv.budget_w, 3600.0 * 0.75, 1e-6)
    sv.tick(2000, True)                                  # everything stale
    assert sv.budget_w == 0.0


def test_energy_accounting():
    sv = _sv()
    t = 0
    for _ in range(361):                                 # 3.6 s at 3 kW out, 3.2 kW in
        _fed(sv, t, v_in=400.0, i_in=8.0, p_ac=3000.0)
        sv.tick(t, True)
        t += 10
    assert _near(sv.e_ac_wh, 3000.0 * 3.6 / 3600, 1e-6)
    assert _near(sv.e_car_wh, 3200.0 * 3.6 / 3600, 1e-6)
    assert _near(sv.losses_wh(), 200.0 * 3.6 / 3600, 1e-6)


def test_setpoint_frames_decode():
    sv = _sv()
    _fed(sv, 0)
    sv.tick(0, True)
    fr = dict(sv.frames())
    inv = ps.decode(ps.ID_PsInverterSetpoint, fr[ps.ID_PsInverterSetpoint])
    assert _near(inv["AcVoltageSetpoint"], 230.0, 0.1) and _near(inv["AcFrequencySetpoint"], 50.0, 0.01)
    assert _near(inv["AcCurrentLimit"], 3600.0 / 230.0, 0.01)
    dc = ps.decode(ps.ID_PsDcDcSetpoint, fr[ps.ID_PsDcDcSetpoint])
    assert _near(dc["InletCurrentLimit"], 3600.0 / SV.DCDC_EFF_EST / 380.0, 0.1)


def test_j1772_duty_mapping():
    assert SV.j1772_duty_pm(5) == 0
    assert SV.j1772_duty_pm(6) == 100
    assert SV.j1772_duty_pm(16) == 266
    assert SV.j1772_duty_pm(32) == 533
    assert SV.j1772_duty_pm(51) == 850
    assert SV.j1772_duty_pm(60) == 880
    assert SV.j1772_duty_pm(80) == 960
    for a in range(6, 81):
        assert SV.j1772_amps(SV.j1772_duty_pm(a)) <= a + 1e-9      # never offers more
        assert SV.j1772_amps(SV.j1772_duty_pm(a)) > a - 1.2     # 52-53 A land in the 0.6 A/% band


def test_outlet_offer_follows_the_budget_down_to_no_offer():
    sv = SV.Supervisory(SV.PROFILE_230_50, 3600, 20, cable_a=16)
    sv.car_limits(25.0, 20000.0, 300.0, 60.0)
    _fed(sv, 0)
    sv.tick(0, True)
    assert sv.outlet_offer() == (True, 250, False)              # 15 A: the 15.65 A budget rounded down
    sv.cable_a = 10
    assert sv.outlet_offer() == (True, 166, False)              # never above the cable's rating
    sv.cable_a = 16
    sv.car_limits(25.0, 20000.0, 300.0, 21.0)                  # near the floor: half the budget
    sv.tick(10, True)
    on, duty, f = sv.outlet_offer()
    assert on and SV.j1772_amps(duty) <= sv.budget_w / 230.0
    sv.car_limits(25.0, 20000.0, 300.0, 20.0)
    sv.tick(20, True)
    assert sv.outlet_offer() == (False, 0, True)


def test_v2h_and_v2v_permits():
    assert SV.v2h_permit(120.0, True) == (False, "inlet is live (120 V): refusing to back-feed")
    assert not SV.v2h_permit(0.0, False)[0]
    assert SV.v2h_permit(2.0, True) == (True, "")
    assert not SV.v2v_permit(False, True, True)[0]
    assert not SV.v2v_permit(True, False, True)[0]
    assert not SV.v2v_permit(True, True, False)[0]
    assert SV.v2v_permit(True, True, True) == (True, "")
