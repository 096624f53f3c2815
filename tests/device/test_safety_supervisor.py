"""Supervisor rules, step by step (runs on CPython and in MicroPython)."""
import firmware  # noqa: F401
from firmware.safety import faults as fl
from firmware.safety import invariants as inv
from firmware.safety import limits as L
from firmware.safety import supervisor as S

_RUN = S.I_LINK | S.I_CONTACTORS | S.I_POWER_STAGE | S.I_CURRENT | S.I_AC


class _Meas(S.Meas):
    """The slower power-stage frames arrive together with the DC/DC status
    in these tests (their own ages are tested in test_safety_plausibility)."""

    def _ps(self):
        return self.ps_seen_ms

    def _ignore(self, v):
        pass

    iso_seen_ms = property(_ps, _ignore)
    t_stage_seen_ms = property(_ps, _ignore)
    ps_faults_seen_ms = property(_ps, _ignore)
    inv_seen_ms = property(_ps, _ignore)
    v2h_interlock_ms = property(_ps, _ignore)     # the safety io reads it every step


def _meas(v_in=400.0, v_link=400.0):
    m = _Meas()
    m.v_inlet = v_in
    m.v_link = v_link
    m.veh_seen_ms = 0
    m.ps_seen_ms = 0
    m.veh_max_i = 25.0
    m.veh_max_p = 11000.0
    m.veh_min_v = 300.0
    m.veh_max_v = 450.0
    m.veh_soc = 80
    m.veh_closed = True
    m.iso_ohm = 2000000
    return m


def _closed(sup, m, t=0):
    """Bring sup to contactors closed, power stage on; returns the time."""
    sup.step(t, m, S.I_LINK)
    sup.step(t + 10, m, S.I_LINK | S.I_CONTACTORS)
    m.aux_pos = m.aux_neg = True
    m.ps_ready = True
    for k in range(2, 40):
        m.ps_seen_ms = m.veh_seen_ms = t + 10 * k
        sup.step(t + 10 * k, m, _RUN)
    return t + 390


def test_close_only_within_20_v():
    sup = S.Supervisor()
    m = _meas(400.0, 370.0)
    sup.step(0, m, S.I_LINK | S.I_CONTACTORS)
    assert sup.cmd.k_pos == 0 and sup.cmd.k_neg == 0
    m.v_link = 380.5
    sup.step(10, m, S.I_LINK | S.I_CONTACTORS)
    assert sup.cmd.k_pos == 1 and sup.cmd.k_neg == 1


def test_no_open_above_2_a_without_trip_then_escalates():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.i_dc = 15.0
    sup.step(t + 10, m, S.I_LINK)            # session asks to open under load
    assert sup.cmd.k_pos == 1                 # vetoed: ramp first
    assert sup.cmd.i_limit_a == 0
    for now in range(t + 20, t + 10 + L.RAMP_DOWN_TIMEOUT_MS, 10):
        m.ps_seen_ms = m.veh_seen_ms = now
        sup.step(now, m, S.I_LINK)
        assert sup.cmd.k_pos == 1
    m.ps_seen_ms = m.veh_seen_ms = t + 10 + L.RAMP_DOWN_TIMEOUT_MS
    sup.step(t + 10 + L.RAMP_DOWN_TIMEOUT_MS, m, S.I_LINK)
    assert sup.cmd.k_pos == 0                 # escalated: emergency trip, counted
    assert sup.emergency_opens == 1
    assert sup.faults & (1 << fl.F_RAMP_TIMEOUT)


def test_open_below_2_a_is_ordinary():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.i_dc = 1.5
    sup.step(t + 10, m, S.I_LINK)
    assert sup.cmd.k_pos == 0 and sup.emergency_opens == 0 and sup.faults == 0


def test_current_limit_is_min_of_everything():
    sup = S.Supervisor(max_power_w=4000)
    m = _meas()
    t = _closed(sup, m)
    assert abs(sup.cmd.i_limit_a - 10.0) < 1e-6        # 4000 W / 400 V
    m.veh_max_i = 7.0
    sup.step(t + 10, m, _RUN)
    assert abs(sup.cmd.i_limit_a - 7.0) < 1e-6
    m.veh_max_i = 100.0
    sup.configure(20, 7200, S.MODE_V2L)
    m.veh_max_p = 20000.0
    sup.step(t + 20, m, _RUN)
    assert abs(sup.cmd.i_limit_a - 18.0) < 1e-6        # box 7200 W / 400 V
    m.veh_min_v = 150.0
    m.v_inlet = m.v_link = 200.0
    sup.step(t + 30, m, _RUN)
    assert abs(sup.cmd.i_limit_a - L.CABLE_RATING_A) < 1e-6


def test_over_temperature_derates_then_stops():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    full = sup.cmd.i_limit_a
    m.t_stage = (L.T_DERATE_C + L.T_STOP_C) / 2
    sup.step(t + 10, m, _RUN)
    assert abs(sup.cmd.i_limit_a - full / 2) < 1e-6
    m.t_stage = L.T_STOP_C
    sup.step(t + 20, m, _RUN)
    assert sup.cmd.i_limit_a == 0 and sup.faults & (1 << fl.F_OVER_TEMP)


def test_soc_floor_and_min_voltage_stop():
    for soc, vin in ((20, 400.0), (60, 305.0)):
        sup = S.Supervisor()
        m = _meas()
        t = _closed(sup, m)
        assert sup.cmd.i_limit_a > 0
        m.veh_soc = soc
        m.v_inlet = m.v_link = vin
        st = sup.step(t + 10, m, _RUN)
        assert sup.cmd.i_limit_a == 0 and st & S.S_END and not st & S.S_FAULT
        assert sup.cmd.ac_relay == 0


def test_isolation_below_100k_stops():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.iso_ohm = 99000
    st = sup.step(t + 10, m, _RUN)
    assert sup.cmd.i_limit_a == 0 and st & S.S_FAULT
    m.i_dc = 0.5
    sup.step(t + 20, m, _RUN)
    assert sup.cmd.k_pos == 0 and sup.emergency_opens == 0


def test_vehicle_link_loss_after_timeout():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    last = m.veh_seen_ms
    m.ps_seen_ms = last + L.VEHICLE_LINK_TIMEOUT_MS
    sup.step(last + L.VEHICLE_LINK_TIMEOUT_MS, m, _RUN)
    assert not sup.faults
    m.ps_seen_ms += 10
    sup.step(last + L.VEHICLE_LINK_TIMEOUT_MS + 10, m, _RUN)
    assert sup.faults & (1 << fl.F_VEHICLE_LINK)


def test_vehicle_link_before_the_dc_path_closes_uses_the_open_timeout():
    # V2G handshake / CableCheck / PreCharge (contactors open): the composition may allow the
    # EVCC's message timeout (limits.VEHICLE_LINK_V2G_OPEN_TIMEOUT_MS); the default stays 0.5 s
    for open_ms in (L.VEHICLE_LINK_TIMEOUT_MS, L.VEHICLE_LINK_V2G_OPEN_TIMEOUT_MS):
        sup = S.Supervisor()
        sup.link_open_timeout_ms = open_ms
        m = _meas(0.0, 0.0)
        intent = S.I_LINK | S.I_ISO_TEST | S.I_PRECHARGE
        m.veh_seen_ms = 10
        t = 10
        while t <= 10 + open_ms:
            m.ps_seen_ms = t
            sup.step(t, m, intent)
            t += 10
        assert not sup.faults & (1 << fl.F_VEHICLE_LINK) and sup.cmd.k_pos == 0
        m.ps_seen_ms = t
        sup.step(t, m, intent)
        assert sup.faults & (1 << fl.F_VEHICLE_LINK)
    # with the contactors closed 0.5 s rules whatever the open timeout
    sup = S.Supervisor()
    sup.link_open_timeout_ms = L.VEHICLE_LINK_V2G_OPEN_TIMEOUT_MS
    m = _meas()
    t = _closed(sup, m)
    last = m.veh_seen_ms
    m.ps_seen_ms = last + L.VEHICLE_LINK_TIMEOUT_MS + 10
    sup.step(last + L.VEHICLE_LINK_TIMEOUT_MS + 10, m, _RUN)
    assert sup.faults & (1 << fl.F_VEHICLE_LINK)


def test_estop_is_immediate_and_counts_emergency():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.i_dc = 12.0
    sup.estop(t + 3)
    assert sup.cmd.safe() and sup.emergency_opens == 1
    m.estop_ok = False
    st = sup.step(t + 10, m, _RUN)
    assert st & S.S_TRIP and sup.cmd.safe()


def test_ac_needs_bond_rcd_and_dead_output():
    sup = S.Supervisor(mode=S.MODE_V2H)
    m = _meas()
    m.v2h_interlock = True                                  # the transfer switch isolates the utility
    t = _closed(sup, m)
    assert sup.cmd.ac_relay == 1 and sup.cmd.npe_bond == 0   # V2H: no second bond
    sup2 = S.Supervisor(mode=S.MODE_V2V)
    m2 = _meas()
    m2.v_ac = 120.0                                         # a live source on the output
    sup2.step(0, m2, S.I_LINK)
    assert sup2.faults & (1 << fl.F_BACKFEED)
    sup3 = S.Supervisor()
    m3 = _meas()
    m3.rcd_ok = False
    _closed(sup3, m3)
    assert sup3.cmd.ac_relay == 0 and sup3.faults & (1 << fl.F_RCD)


def test_backfeed_while_running_opens_ac():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    assert sup.cmd.ac_relay == 1
    m.p_ac = -1000.0
    sup.step(t + 10, m, _RUN)
    assert sup.cmd.ac_relay == 1                 # not yet BACKFEED_TIME_MS
    sup.step(t + 10 + L.BACKFEED_TIME_MS, m, _RUN)
    assert sup.cmd.ac_relay == 0 and sup.faults & (1 << fl.F_BACKFEED)


def test_stall_monitor_cuts_then_opens():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    assert not sup.monitor(t + L.LOOP_STALL_MS)
    assert sup.monitor(t + L.LOOP_STALL_MS + 10)
    assert sup.cmd.ps_enable == 0 and sup.cmd.k_pos == 1
    assert sup.monitor(t + L.LOOP_STALL_MS + 10 + L.PS_CUT_SETTLE_MS)
    assert sup.cmd.safe()


def test_welded_contactor_locks_out():
    sup = S.Supervisor()
    m = _meas()
    m.aux_pos = True                    # mirror contact says closed, command is open
    sup.step(0, m, 0)
    st = sup.step(S.AUX_AGREE_MS, m, 0)
    assert st & S.S_LOCKOUT
    assert sup.try_clear(1000, True, True)     # not cleared by the user
    sup.service_clear()
    assert sup.faults == 0


def test_faults_clear_only_by_their_rule():
    sup = S.Supervisor()
    m = _meas()
    m.estop_ok = False
    sup.step(0, m, 0)
    assert sup.try_clear(10, True, False)      # still pressed
    m.estop_ok = True
    assert sup.try_clear(20, False, True) & (1 << fl.F_ESTOP)   # unplug is not a reset
    assert sup.try_clear(30, True, False) == 0


def test_invariant_checker_catches_forged_commands():
    sup = S.Supervisor()
    m = _meas(400.0, 300.0)
    sup.cmd.k_pos = sup.cmd.k_neg = 1
    assert inv.check(sup, m, 0, 0, 0, False) == inv.V_CLOSE_MISMATCH
    m.v_link = 400.0
    m.i_dc = 10.0
    sup.cmd.k_pos = sup.cmd.k_neg = 0
    assert inv.check(sup, m, 1, 0, 0, False) == inv.V_OPEN_UNDER_LOAD
    assert inv.check(sup, m, 1, 0, 0, 1) == inv.OK
    sup.cmd.k_pos = sup.cmd.k_neg = sup.cmd.ps_enable = 1
    sup.cmd.i_limit_a = 30.0
    assert inv.check(sup, m, 1, 0, 0, False) == inv.V_CURRENT_LIMIT
    sup.cmd.i_limit_a = 1.0
    sup.cmd.ac_relay = 1
    sup.cmd.npe_bond = 0
    assert inv.check(sup, m, 1, 1, 0, False) == inv.V_AC_CONDITIONS


def test_lost_power_stage_link_opens_after_the_cut_settles():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.i_dc = 15.0                       # last reading before the link died
    last = m.ps_seen_ms
    now = t
    while sup.cmd.k_pos:
        now += 10
        m.veh_seen_ms = now
        sup.step(now, m, S.I_LINK | S.I_CONTACTORS | S.I_POWER_STAGE | S.I_CURRENT | S.I_AC)
        if sup.faults:
            assert sup.cmd.ps_enable == 0
        assert now < last + 1000
    assert now <= last + L.PS_LINK_TIMEOUT_MS + 10 + L.PS_CUT_SETTLE_MS + 10
    assert sup.emergency_opens == 0 and not sup.faults & (1 << fl.F_INVARIANT)


def test_invariant_guard_locks_out_on_violation():
    sup = S.Supervisor()
    m = _meas(400.0, 300.0)
    # force the decision code to misbehave: pretend the sides matched
    sup._k = True
    st = sup.step(0, m, S.I_CONTACTORS)
    assert st & S.S_LOCKOUT and sup.cmd.safe()
    assert sup.faults & (1 << fl.F_INVARIANT)


def test_over_current_cuts_but_a_limit_drop_is_not_one():
    sup = S.Supervisor()
    m = _meas()
    t = _closed(sup, m)
    m.i_dc = sup.cmd.i_limit_a            # 18 A, following the limit
    m.veh_max_i = 5.0                     # the car lowers its limit abruptly
    for k in range(1, 20):                # the stage ramps down at 100 A/s
        m.i_dc = max(5.0, 18.0 - 1.0 * k)
        m.ps_seen_ms = m.veh_seen_ms = t + 10 * k
        sup.step(t + 10 * k, m, _RUN)
    assert not sup.faults
    t += 190
    m.i_dc = 5.0 + L.OC_MARGIN_A + 1.0    # the stage overshoots
    for k in range(1, 13):
        m.ps_seen_ms = m.veh_seen_ms = t + 10 * k
        sup.step(t + 10 * k, m, _RUN)
    assert sup.faults & (1 << fl.F_OVER_CURRENT)
    assert sup.cmd.ps_enable == 0          # hardware cut, contactors wait for low current
    assert sup.cmd.k_pos == 1
