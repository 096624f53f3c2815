"""CHAdeMO d1/d2/lock and the control pilot belong to the supervisor
(runs on CPython and in MicroPython)."""
import firmware  # noqa: F401
from firmware.safety import faults as fl
from firmware.safety import supervisor as S

_ALL = S.P_D1 | S.P_D2 | S.P_LOCK


def _meas(v_in=0.0):
    m = S.Meas()
    m.v_inlet = v_in
    m.ps_seen_ms = 0
    return m


def test_d2_only_with_d1_and_a_dead_inlet():
    sup = S.Supervisor()
    m = _meas(45.0)
    sup.request(S.P_D2)
    sup.step(0, m, 0)
    assert sup.cmd.d2 == 0                     # no d1
    sup.request(_ALL)
    sup.step(10, m, 0)
    assert sup.cmd.d1 == 1 and sup.cmd.d2 == 0  # inlet live
    m.v_inlet = float("nan")
    sup.step(20, m, 0)
    assert sup.cmd.d2 == 0                     # a NaN inlet is not a dead inlet
    m.v_inlet = 3.0
    sup.step(30, m, 0)
    assert sup.cmd.d2 == 1
    m.v_inlet = 380.0                          # the car closed: d2 stays
    sup.step(40, m, 0)
    assert sup.cmd.d2 == 1 and not sup.faults & (1 << fl.F_INVARIANT)


def test_estop_drops_d1_d2_and_puts_the_pilot_in_state_f():
    sup = S.Supervisor()
    m = _meas(3.0)
    sup.request(_ALL | S.P_CP_PWM, 50)
    sup.step(0, m, 0)
    assert sup.cmd.d2 == 1 and sup.cmd.cp_pwm_on == 1 and sup.cmd.cp_duty_pm == 50
    sup.estop(5)
    c = sup.cmd
    assert c.d1 == 0 and c.d2 == 0 and c.cp_pwm_on == 0 and c.cp_state_f == 1 and c.safe()
    m.estop_ok = False
    sup.step(10, m, 0)
    assert c.d1 == 0 and c.d2 == 0 and c.cp_state_f == 1


def test_stall_monitor_drops_d2_after_the_power_stage_cut():
    sup = S.Supervisor()
    m = _meas(3.0)
    sup.request(_ALL)
    sup.step(0, m, 0)
    m.v_inlet = 380.0
    sup.step(10, m, 0)
    assert sup.cmd.d2 == 1
    assert sup.monitor(65)                     # > LOOP_STALL_MS: cut
    assert sup.cmd.d2 == 1
    assert sup.monitor(85)                     # PS_CUT_SETTLE_MS later: d2 goes
    assert sup.cmd.d1 == 0 and sup.cmd.d2 == 0 and sup.cmd.cp_state_f == 1


def test_lock_holds_while_the_inlet_is_live():
    sup = S.Supervisor()
    m = _meas(3.0)
    sup.request(S.P_LOCK)
    sup.step(0, m, 0)
    assert sup.cmd.lock == 1
    m.v_inlet = 300.0
    sup.request(0)
    sup.step(10, m, 0)
    assert sup.cmd.lock == 1                   # release refused: inlet live
    m.v_inlet = float("nan")
    sup.step(20, m, 0)
    assert sup.cmd.lock == 1                   # unknown counts as live
    m.v_inlet = 5.0
    sup.step(30, m, 0)
    assert sup.cmd.lock == 0


def test_pilot_duty_outside_the_signalling_ranges_is_refused():
    sup = S.Supervisor()
    m = _meas()
    for duty, ok in ((50, 1), (80, 1), (970, 1), (60, 0), (990, 0), (-5, 0), (1000, 0)):
        sup.request(S.P_CP_PWM, duty)
        sup.step(0, m, 0)
        assert sup.cmd.cp_pwm_on == ok, duty
    sup.request(S.P_CP_PWM | S.P_CP_F, 50)
    sup.step(10, m, 0)
    assert sup.cmd.cp_state_f == 1 and sup.cmd.cp_pwm_on == 0


def test_port_lines_are_the_supervisor_requests():
    from firmware.charging import port as P
    assert (P.L_D1, P.L_D2, P.L_LOCK, P.L_CP_PWM, P.L_CP_F) == (S.P_D1, S.P_D2, S.P_LOCK, S.P_CP_PWM, S.P_CP_F)
