"""A misbehaving session cannot make the supervisor break a rule: targeted
scenarios through the real SafetyApp in the plant (the stateful test covers
the same ground at random)."""
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.safety import supervisor as S
from firmware.charging import table as T
from hil.rigs.safety import SafetyRig, to_supplying
from tests.safety.checks import Checker
from tests.safety.test_stateful import RogueSession


def _rogue(p, extra=0, drop=0):
    s = p.app.session
    s.__class__ = RogueSession
    s.extra = extra
    s.drop = drop


def _reach(p, state):
    p.plug()
    p.run(20)
    p.start()
    assert p.run_until(lambda q: q.app.session.state == state, 4000)


def test_contactors_stay_open_while_the_sides_differ():
    p = SafetyRig(car_closes_early=True)         # pack on the inlet, link at the test voltage
    chk = Checker(p)
    _reach(p, T.ISOLATION_CHECK)
    _rogue(p, extra=S.I_CONTACTORS)
    p.run(200, chk)
    assert abs(p.v_inlet - p.v_link) > L.V_MATCH_MAX_V or p.out("K_DC_POS") == 0
    assert p.closes == [] and not p.app.sup.faults & (1 << fl.F_INVARIANT)


def test_open_request_under_load_waits_for_low_current():
    p = SafetyRig(load_w=5000.0)
    chk = Checker(p)
    assert to_supplying(p)
    p.run(500, chk)
    assert p.i > 5.0
    _rogue(p, drop=S.I_CONTACTORS)
    p.run(20, chk)
    assert p.out("K_DC_POS") == 1            # vetoed: the ramp runs first
    p.run(400, chk)
    assert p.out("K_DC_POS") == 0
    assert p.opens[-1][1] <= L.I_BREAK_MAX_A and p.app.sup.emergency_opens == 0


def test_ac_and_current_are_not_granted_outside_supplying_conditions():
    p = SafetyRig()
    chk = Checker(p)
    _reach(p, T.POWER_STAGE_START)
    _rogue(p, extra=S.I_AC | S.I_CURRENT)
    p.run(5, chk)
    assert p.out("AC_OUT_RELAY") == 0        # the power stage is not ready yet
    p.inject("soc_floor")
    p.run(50, chk)
    assert p.app.sup.cmd.i_limit_a == 0 and p.out("AC_OUT_RELAY") == 0


def test_soc_floor_holds_even_if_the_session_forgets_the_link():
    # found by a long stateful run: the floor was only checked with I_LINK asked for
    p = SafetyRig()
    chk = Checker(p)
    assert to_supplying(p)
    p.run(300, chk)
    p.inject("soc_floor")
    _rogue(p, drop=S.I_LINK)
    p.run(800, chk)
    assert p.app.sup.cmd.i_limit_a == 0 and p.out("K_DC_POS") == 0
    assert not p.app.sup.faults & (1 << fl.F_INVARIANT)


def test_closed_dc_path_needs_a_live_vehicle_link_whatever_the_session_asks():
    # found by a long stateful run: the link watch keyed on the session's
    # request edge, so a link that died just before it was never watched
    p = SafetyRig()
    chk = Checker(p)
    assert to_supplying(p)
    _rogue(p, drop=S.I_LINK)
    p.link_dead = True
    p.run(L.VEHICLE_LINK_TIMEOUT_MS + L.RAMP_DOWN_TIMEOUT_MS + 40, chk)
    assert p.app.sup.faults & (1 << fl.F_VEHICLE_LINK) and p.out("K_DC_POS") == 0
