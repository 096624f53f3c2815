"""Every input is doubted (issue 8): NaN, out of range, sensor open/short,
stale values and a peer's "not measuring" are named faults, never defaults.
Runs on CPython and in MicroPython."""
import firmware  # noqa: F401
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.safety import supervisor as S

NAN = float("nan")
_RUN = S.I_LINK | S.I_CONTACTORS | S.I_POWER_STAGE | S.I_CURRENT | S.I_AC


def _seen(m, t):
    m.ps_seen_ms = m.veh_seen_ms = m.iso_seen_ms = m.t_stage_seen_ms = t
    m.ps_faults_seen_ms = m.inv_seen_ms = t


def _meas():
    m = S.Meas()
    m.v_inlet = m.v_link = 400.0
    _seen(m, 0)
    m.veh_max_i = 25.0
    m.veh_max_p = 11000.0
    m.veh_min_v = 300.0
    m.veh_max_v = 450.0
    m.veh_soc = 80
    m.veh_closed = True
    m.iso_ohm = 2000000
    return m


def _supplying():
    sup = S.Supervisor()
    m = _meas()
    sup.step(0, m, S.I_LINK)
    sup.step(10, m, S.I_LINK | S.I_CONTACTORS)
    m.aux_pos = m.aux_neg = True
    m.ps_ready = True
    for k in range(2, 40):
        _seen(m, 10 * k)
        sup.step(10 * k, m, _RUN)
    assert sup.cmd.i_limit_a > 0 and not sup.faults
    return sup, m, 390


def _steps(sup, m, t, n, keep_fresh=True, intent=_RUN):
    for k in range(1, n + 1):
        if keep_fresh:
            _seen(m, t + 10 * k)
        sup.step(t + 10 * k, m, intent)
    return t + 10 * n


def test_soc_the_car_cannot_have_stops_the_session():
    # ChargedRate 255 from a car with no minimum level of its own was
    # discharged to 10 %: 255, 101, NaN (and "unknown" while supplying) are faults
    for bad in (255, 101, NAN, -1, -5):
        sup, m, t = _supplying()
        m.veh_soc = bad
        _steps(sup, m, t, 2)
        assert sup.faults & (1 << fl.F_VEH_DATA), bad
        assert sup.cmd.i_limit_a == 0, bad


def test_nan_vehicle_limits_are_a_fault_not_a_default():
    for attr in ("veh_max_i", "veh_max_p", "veh_min_v", "veh_max_v", "veh_target_v"):
        sup, m, t = _supplying()
        setattr(m, attr, NAN)
        _steps(sup, m, t, 2)
        assert sup.faults & (1 << fl.F_VEH_DATA) and sup.cmd.i_limit_a == 0, attr


def test_open_or_shorted_temperature_sensor_gives_no_power():
    for attr, bad in (("t_inlet", -50.0), ("t_stage", -40.0), ("t_inlet", NAN), ("t_stage", NAN),
                      ("t_inlet", 280.0)):
        sup, m, t = _supplying()
        setattr(m, attr, bad)
        _steps(sup, m, t, 1)
        assert sup.faults & (1 << fl.F_T_SENSOR), (attr, bad)
        assert sup.derate == 0.0 and sup.cmd.i_limit_a == 0, (attr, bad)


def test_stale_temperature_and_isolation_are_not_kept():
    sup, m, t = _supplying()
    m.t_stage = 25.0
    last = t
    for k in range(1, 40):          # the DC/DC status keeps coming, the slow frames stop
        now = t + 10 * k
        m.ps_seen_ms = m.veh_seen_ms = m.inv_seen_ms = m.ps_faults_seen_ms = now
        sup.step(now, m, _RUN)
        if sup.faults:
            break
    assert sup.faults & (1 << fl.F_T_SENSOR) and sup.faults & (1 << fl.F_IMD)
    assert now - last <= L.SLOW_FRAME_MAX_AGE_MS + 10


def test_imd_not_measuring_while_supplying_stops():
    sup, m, t = _supplying()
    m.iso_ohm = -1                  # PsIsolation says NotMeasuring
    _steps(sup, m, t, 1)
    assert sup.faults & (1 << fl.F_IMD) and sup.cmd.i_limit_a == 0


def test_current_is_checked_in_both_directions():
    sup, m, t = _supplying()
    m.i_dc = -60.0                  # 60 A pushed into the car, 40 A fuse
    _steps(sup, m, t, 1)
    assert sup.faults & (1 << fl.F_SHORT)
    assert sup.cmd.k_pos == 0 and sup.emergency_opens == 1
    sup, m, t = _supplying()
    m.i_dc = -(sup.cmd.i_limit_a + L.OC_MARGIN_A + 2)
    _steps(sup, m, t, 12)
    assert sup.faults & (1 << fl.F_OVER_CURRENT)


def test_nan_inlet_voltage_is_a_fault_and_grants_nothing():
    sup, m, t = _supplying()
    m.v_inlet = NAN
    assert sup.ceiling(m) == 0.0
    _steps(sup, m, t, 1)
    assert sup.faults & (1 << fl.F_V_SENSOR)
    assert sup.cmd.i_limit_a == 0 and sup.cmd.ps_enable == 0     # cut at once


def test_saturated_voltage_sensor_is_a_fault():
    sup, m, t = _supplying()
    m.v_link = 1320.0               # divider at full scale: shorted sensor
    _steps(sup, m, t, 1)
    assert sup.faults & (1 << fl.F_V_SENSOR)


def test_nan_current_during_a_stop_never_opens_as_if_it_were_low():
    sup, m, t = _supplying()
    m.i_dc = 15.0
    t = _steps(sup, m, t, 1, intent=S.I_LINK)       # the session stops
    m.i_dc = NAN
    opened_at = None
    for k in range(1, 80):
        _seen(m, t + 10 * k)
        sup.step(t + 10 * k, m, S.I_LINK)
        if not sup.cmd.k_pos:
            opened_at = 10 * k
            break
    assert sup.faults & (1 << fl.F_I_SENSOR)
    # opened only after the hardware cut settled (no current is flowing), or
    # counted as an emergency: never silently as "below 2 A"
    assert opened_at is not None and opened_at >= L.PS_CUT_SETTLE_MS
    assert sup.cmd.ps_enable == 0
    assert not sup.faults & (1 << fl.F_INVARIANT)


def test_ac_sensor_nonsense_is_a_fault():
    for attr, bad in (("v_ac", NAN), ("p_ac", NAN), ("v_ac", 900.0)):
        sup, m, t = _supplying()
        setattr(m, attr, bad)
        _steps(sup, m, t, 1)
        assert sup.faults & (1 << fl.F_AC_SENSOR), attr


def test_every_plausibility_fault_is_named_with_a_reaction():
    assert len(fl.PLAUSIBILITY) == 6
    for bit in fl.PLAUSIBILITY:
        assert fl.FAULTS[bit][1] >= fl.R_STOP
    assert fl.N_FAULTS == len(fl.FAULTS)
