"""Bad and extreme inputs: the fast loop never commands more than its duty
clamp and never raises; the supervisory loop keeps its budget inside the
profile and its frames encodable, whatever the status frames and car limits."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.can.gen import power_stage as ps
from inverter.controller import fastloop as FL
from inverter.controller import supervisory as SV

meas = st.floats(min_value=-2000.0, max_value=2000.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(meas, meas, meas, st.floats(min_value=-100.0, max_value=1000.0), st.booleans()),
                min_size=1, max_size=400),
       st.sampled_from([(1, False, 50.0, 230.0), (2, True, 60.0, 120.0), (1, False, 60.0, 120.0)]))
def test_fast_loop_bounded_on_any_measurement(samples, cfg):
    nph, half, f, v = cfg
    ctl = FL.InverterControl(nph=nph, half_bridge=half, f_hz=f, v_rms=v, ramp_ms=5, retry_s=0.01)
    ctl.enable(True)
    for vc, il, io, vdc, trip in samples:
        d = ctl.step([vc] * nph, [il] * nph, [io] * nph, vdc, trip)
        for x in d:
            assert math.isfinite(x) and abs(x) <= FL.DUTY_MAX
        if not ctl.gates:
            assert all(x == 0.0 for x in d)
        assert ctl.state in (FL.INV_OFF, FL.INV_SOFT_START, FL.INV_RUN, FL.INV_SC_LATCH, FL.INV_LOCKOUT,
                             FL.INV_TRIP)


def _dcdc(v_in, i_in):
    return {"InletVoltage": v_in, "InletCurrent": i_in, "DcLinkVoltage": 420.0, "DcDcState": 2,
            "DcDcDerating": 0, "AliveCounter": 0}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([SV.PROFILE_120_60, SV.PROFILE_230_50, SV.PROFILE_120_240_SPLIT]),
       st.floats(0.0, 1000.0), st.floats(-300.0, 300.0), st.floats(0.0, 400.0), st.floats(-15000.0, 15000.0),
       st.integers(-40, 215), st.floats(-1.0, 300.0), st.floats(-1.0, 20000.0), st.floats(-1.0, 1000.0),
       st.floats(-1.0, 100.0), st.integers(0, 200))
def test_supervisory_budget_and_frames_stay_sane(prof, v_in, i_in, v_ac, p_ac, temp, max_i, max_p, min_v,
                                                soc, now):
    sv = SV.Supervisory(prof, SV.PROFILE_MAX_W[prof], 20, cable_a=32)
    sv.car_limits(max_i, max_p, min_v, soc)
    sv.rx(ps.ID_PsDcDcStatus, _dcdc(v_in, i_in), now)
    sv.rx(ps.ID_PsInverterStatus, {"AcVoltageRms": v_ac, "AcCurrentRms": 1.0, "AcFrequency": 50.0,
                                   "AcActivePower": p_ac}, now)
    sv.rx(ps.ID_PsTemperatures, {"TempDcDcPrimary": temp, "TempDcDcSecondary": 0, "TempTransformer": 0,
                                 "TempInverterBridge": 0, "TempAcFilter": 0, "TempPscMcu": 0, "FanDuty": 0}, now)
    for k in range(3):
        sv.tick(now + 10 * k, True)
    assert 0.0 <= sv.budget_w <= SV.PROFILE_MAX_W[prof] + 1e-6
    if sv.budget_w > 0:
        assert soc > 20 and max_i > 0 and temp < 90
    assert abs(sv.trim) <= SV.PROFILE_V[prof] * SV.TRIM_MAX_PCT / 100 + 1e-9
    assert 0.0 <= sv.dcdc["InletCurrentLimit"] <= max(max_i, 0.0) + 1e-9
    for fid, data in sv.frames():
        assert len(ps.decode(fid, data)) > 0
    on, duty, _f = sv.outlet_offer()
    assert not on or SV.j1772_amps(duty) <= min(32.0, sv.budget_w / SV.PROFILE_V[prof]) + 1e-9
