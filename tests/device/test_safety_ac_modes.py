"""Issue 12 items 4-5 through the safety supervisor (CPython and MicroPython):
the V2H transfer-interlock input, the V2V RCD self-test before the AC relay
closes, and the J1772 AC outlet's own control pilot."""
import firmware  # noqa: F401
from firmware.hal import sim
from firmware.safety import faults as fl
from firmware.safety import invariants as inv
from firmware.safety import limits as L
from firmware.safety import supervisor as S
from firmware.safety.io import SafetyIo
from tests.device.test_safety_supervisor import _RUN, _closed, _meas


def _run(sup, m, t0, ms, rcd=None):
    """Step every 10 ms for `ms`; `rcd` models the RCD: trips on the test
    current ("ok"), never trips ("dead"), trips but never re-arms ("stuck")."""
    t = t0
    tripped = False
    while t < t0 + ms:
        t += 10
        m.ps_seen_ms = m.veh_seen_ms = t
        if rcd == "ok":
            m.rcd_ok = not sup.cmd.rcd_test
        elif rcd == "stuck":
            tripped = tripped or bool(sup.cmd.rcd_test)
            m.rcd_ok = not tripped
        sup.step(t, m, _RUN)
    return t


def _v2v_on():
    """A V2V supervisor with the AC relay closed after a passed RCD self-test."""
    sup = S.Supervisor(mode=S.MODE_V2V)
    m = _meas()
    sup.step(0, m, S.I_LINK)
    sup.step(10, m, S.I_LINK | S.I_CONTACTORS)
    m.aux_pos = m.aux_neg = True
    m.ps_ready = True
    t = _run(sup, m, 10, 500, rcd="ok")
    assert sup.cmd.ac_relay == 1 and not sup.faults
    return sup, m, t


# ---------------------------------------------------------------- V2H interlock
def test_v2h_relay_needs_the_transfer_interlock():
    sup = S.Supervisor(mode=S.MODE_V2H)
    m = _meas()
    t = _closed(sup, m)                          # interlock open (Meas default)
    t = _run(sup, m, t, 500)
    assert sup.cmd.ac_relay == 0 and sup.cmd.ps_enable == 1
    assert not sup.faults                        # refused, not a fault: the user moves the switch
    m.v2h_interlock = True
    t = _run(sup, m, t, 300)
    assert sup.cmd.ac_relay == 1 and sup.cmd.npe_bond == 0
    # the switch is moved back to the utility under load: the relay opens, named fault
    m.v2h_interlock = False
    _run(sup, m, t, 10)
    assert sup.cmd.ac_relay == 0 and sup.faults & (1 << fl.F_V2H_INTERLOCK)


def test_v2h_stale_interlock_reading_is_a_fault():
    sup = S.Supervisor(mode=S.MODE_V2H)
    m = S.Meas()                                 # its own interlock age, never refreshed here
    m.v2h_interlock = True
    m.v2h_interlock_ms = 0
    sup.step(0, m, 0)
    assert not sup.faults & (1 << fl.F_V2H_INTERLOCK)
    assert sup.interlock_made(0, m)
    sup.step(L.V2H_INTERLOCK_MAX_AGE_MS + 10, m, 0)
    assert sup.faults & (1 << fl.F_V2H_INTERLOCK)
    assert not sup.interlock_made(L.V2H_INTERLOCK_MAX_AGE_MS + 10, m)
    # V2L does not use the input
    sup2 = S.Supervisor(mode=S.MODE_V2L)
    sup2.step(1000, m, 0)
    assert not sup2.faults & (1 << fl.F_V2H_INTERLOCK)


def test_safety_io_reads_the_interlock_pin_with_its_time():
    hal = sim.make_sim_hal()
    sup = S.Supervisor(mode=S.MODE_V2H)
    io = SafetyIo(hal, sup)
    m = S.Meas()
    io.read(m, 120)
    assert m.v2h_interlock is False and m.v2h_interlock_ms == 120   # sim idles open: safe
    hal.gpio["V2H_INTERLOCK"].drive_input(1)
    io.read(m, 130)
    assert m.v2h_interlock is True and m.v2h_interlock_ms == 130


def test_invariant_catches_v2h_relay_without_interlock():
    sup = S.Supervisor(mode=S.MODE_V2H)
    m = _meas()
    m.v2h_interlock = True
    t = _closed(sup, m)
    assert sup.cmd.ac_relay == 1
    m.v2h_interlock = False                     # forge: relay kept closed without the interlock
    assert inv.check(sup, m, 1, 1, 0, 0, (0, 0, 0)) == inv.V_AC_MODE
    assert inv.NAMES[inv.V_AC_MODE] == "ac_mode"


# ---------------------------------------------------------------- V2V RCD self-test
def test_v2v_relay_only_after_rcd_self_test():
    sup = S.Supervisor(mode=S.MODE_V2V)
    m = _meas()
    t = _closed(sup, m)                         # RCD never trips here: no relay
    assert sup.cmd.ac_relay == 0
    sup2 = S.Supervisor(mode=S.MODE_V2V)
    m2 = _meas()
    seen_test = []
    t = 0
    sup2.step(t, m2, S.I_LINK)
    sup2.step(t + 10, m2, S.I_LINK | S.I_CONTACTORS)
    m2.aux_pos = m2.aux_neg = True
    m2.ps_ready = True
    for k in range(2, 60):
        t = 10 * k
        m2.ps_seen_ms = m2.veh_seen_ms = t
        m2.rcd_ok = not sup2.cmd.rcd_test
        sup2.step(t, m2, _RUN)
        seen_test.append((sup2.cmd.rcd_test, sup2.cmd.ac_relay))
    assert (1, 0) in seen_test                  # the test current was injected with the relay open
    assert (1, 1) not in seen_test              # never into a closed output
    first_test = seen_test.index((1, 0))
    first_on = seen_test.index((0, 1))
    assert first_test < first_on
    assert sup2.cmd.ac_relay == 1 and sup2.cmd.npe_bond == 1 and not sup2.faults
    assert sup2.rcd_tested


def test_v2v_rcd_that_does_not_trip_is_a_named_fault():
    sup = S.Supervisor(mode=S.MODE_V2V)
    m = _meas()
    t = _closed(sup, m)                         # the test runs; the RCD ignores it
    t = _run(sup, m, t, L.RCD_TRIP_MAX_MS + 20)
    assert sup.faults & (1 << fl.F_RCD_TEST)
    assert fl.name(fl.F_RCD_TEST) == "rcd_test"
    assert sup.cmd.ac_relay == 0 and sup.cmd.rcd_test == 0
    _run(sup, m, t, 500, rcd="ok")             # a latched fault: never closes afterwards
    assert sup.cmd.ac_relay == 0


def test_v2v_rcd_that_does_not_rearm_is_a_named_fault():
    sup = S.Supervisor(mode=S.MODE_V2V)
    m = _meas()
    m.rcd_ok = True
    t = 0
    sup.step(t, m, S.I_LINK)
    sup.step(10, m, S.I_LINK | S.I_CONTACTORS)
    m.aux_pos = m.aux_neg = True
    m.ps_ready = True
    _run(sup, m, 10, 400 + L.RCD_REARM_MAX_MS, rcd="stuck")
    assert sup.faults & (1 << fl.F_RCD_TEST)
    assert sup.cmd.ac_relay == 0


def test_invariant_catches_v2v_relay_without_rcd_test():
    sup, m, _t = _v2v_on()
    c = sup.cmd
    sup.rcd_tested = False                      # forge: a closing without a passed test
    assert inv.check(sup, m, 1, 1, 1, 0, (0, 0, 0)) == inv.OK      # (already closed: fine)
    assert inv.check(sup, m, 1, 0, 1, 0, (0, 0, 0)) == inv.V_AC_MODE
    c.ac_relay = 0
    c.rcd_test = 1
    m.estop_ok = False                          # test current during an E-stop
    assert inv.check(sup, m, 1, 0, 1, 0, (0, 0, 0)) != inv.OK


# ---------------------------------------------------------------- J1772 outlet pilot
def test_outlet_pilot_follows_the_offer_in_v2v_only():
    sup, m, t = _v2v_on()
    sup.request_outlet(True, 250, False)        # 15 A
    sup.step(t + 10, m, _RUN)
    c = sup.cmd
    assert (c.outlet_cp_pwm_on, c.outlet_cp_duty_pm, c.outlet_cp_state_f) == (1, 250, 0)
    sup.request_outlet(True, 30, False)         # below the J1772 range: no PWM
    sup.step(t + 20, m, _RUN)
    assert (c.outlet_cp_pwm_on, c.outlet_cp_duty_pm) == (0, 0)
    sup.request_outlet(False, 0, True)          # the loop asks for state F (SoC floor)
    sup.step(t + 30, m, _RUN)
    assert c.outlet_cp_state_f == 1 and c.outlet_cp_pwm_on == 0
    sup2 = S.Supervisor(mode=S.MODE_V2L)        # no outlet pilot outside V2V
    sup2.request_outlet(True, 250, False)
    sup2.step(0, _meas(), S.I_LINK)
    assert sup2.cmd.outlet_cp_pwm_on == 0 and sup2.cmd.outlet_cp_state_f == 1


def _offering():
    sup, m, t = _v2v_on()
    sup.request_outlet(True, 400, False)
    t += 10
    sup.step(t, m, _RUN)
    assert sup.cmd.outlet_cp_pwm_on == 1
    return sup, m, t


def test_outlet_pilot_state_f_on_estop_stall_and_fault():
    sup, m, t = _offering()
    sup.estop(t + 1)                            # interrupt path
    assert sup.cmd.outlet_cp_state_f == 1 and sup.cmd.outlet_cp_pwm_on == 0
    m.estop_ok = False
    sup.step(t + 10, m, _RUN)
    assert sup.cmd.outlet_cp_state_f == 1 and sup.cmd.outlet_cp_pwm_on == 0
    sup, m, t = _offering()                     # main loop stall: the monitor drops it
    assert sup.monitor(t + L.LOOP_STALL_MS + 10)
    assert sup.monitor(t + L.LOOP_STALL_MS + 10 + L.PS_CUT_SETTLE_MS)
    assert sup.cmd.outlet_cp_state_f == 1 and sup.cmd.outlet_cp_pwm_on == 0 and sup.cmd.safe()
    sup, m, t = _offering()                     # a stop-class fault (over-temperature)
    m.t_inlet = L.T_STOP_C + 1
    sup.step(t + 10, m, _RUN)
    assert sup.cmd.outlet_cp_state_f == 1 and sup.cmd.outlet_cp_pwm_on == 0


def test_outlet_pilot_pin_and_invariant():
    hal = sim.make_sim_hal()
    sup, m, t = _offering()
    io = SafetyIo(hal, sup)
    io.apply(feed=False)
    assert hal.pwm["OUTLET_CP_PWM"].duty_permille == 400 and hal.pwm["OUTLET_CP_PWM"].freq_hz == 1000
    assert hal.pwm["CP_PWM"].duty_permille == 1000   # the car-side pilot is a separate output
    assert hal.gpio["RCD_TEST"].level == 0
    sup.estop(t + 1)
    io.apply(feed=False)
    assert hal.pwm["OUTLET_CP_PWM"].duty_permille == 0   # state F: -12 V
    sup, m, t = _offering()
    sup.mode = S.MODE_V2L                       # forge: PWM outside V2V
    assert inv.check(sup, m, 1, 1, 1, 0, (0, 0, 0)) == inv.V_OUTLET_PILOT
