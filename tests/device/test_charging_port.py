"""The charging port and the session, protocol-neutral (CPython and
MicroPython): a DIN-style protocol written against the port alone, with the
real supervisor's status bits scripted. What the CCS SECC will do."""
import firmware  # noqa: F401
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.charging.engine import Session
from firmware.safety import supervisor as S


class _Sup:
    """What the session and the port read of the supervisor."""

    def __init__(self):
        self.faults = 0
        self.cmd = S.Cmd()

    def try_clear(self, now, reset=False, unplugged=False):
        return True

    def service_clear(self):
        return True


def _rig():
    port = P.ChargingPort()
    sess = Session(0, port=port)
    sup = _Sup()
    m = S.Meas()
    return port, sess, sup, m


def _tick(port, sess, sup, m, now, status=0):
    port.fill(m)
    # the supervisor decides the lines from the port's requests (issue 8: they
    # are Cmd fields); this stand-in grants what was asked
    c = sup.cmd
    w = port.want_lines
    c.d1 = 1 if w & P.L_D1 else 0
    c.d2 = 1 if w & P.L_D2 and c.d1 else 0
    c.lock = 1 if w & P.L_LOCK else 0
    c.cp_pwm_on = 1 if w & P.L_CP_PWM else 0
    c.cp_state_f = 1 if w & P.L_CP_F else 0
    acts = sess.step(now, status, sup)
    port.update(now, status, sup, m, sess.state, acts, False)
    return acts


def _to_precharge(port, sess, sup, m):
    sess.set_plugged(True)
    _tick(port, sess, sup, m, 0)
    sess.post(T.EV_START)
    _tick(port, sess, sup, m, 10)
    assert sess.state == T.HANDSHAKE and port.take_start() and not port.take_start()
    port.finished(False)
    port.vehicle(55, 450.0, 300.0, False)
    port.cable_check(500)                       # [V2G-DC-418] CableCheckReq
    _tick(port, sess, sup, m, 20)
    assert sess.state == T.ISOLATION_CHECK and m.veh_max_v == 450.0 and m.veh_soc == 55
    _tick(port, sess, sup, m, 30, S.S_ISO_OK)
    assert sess.state == T.PRECHARGE and port.iso == P.ISO_VALID


def test_a_din_style_session_through_the_port_alone():
    port, sess, sup, m = _rig()
    _to_precharge(port, sess, sup, m)
    port.cable_check(0)
    port.precharge(380)                         # PreChargeReq EVTargetVoltage
    _tick(port, sess, sup, m, 40)
    assert m.veh_target_v == 380
    _tick(port, sess, sup, m, 50, S.S_MATCHED)
    assert sess.state == T.PRECHARGE and port.precharged      # matched, but nobody asked to close
    port.contactors(True)                       # PowerDeliveryReq(Start)
    _tick(port, sess, sup, m, 60, S.S_MATCHED)
    assert sess.state == T.CONTACTORS_CLOSED
    _tick(port, sess, sup, m, 70, S.S_CLOSED)
    _tick(port, sess, sup, m, 80, S.S_CLOSED | S.S_PS_READY)
    assert sess.state == T.SUPPLYING and port.closed
    port.limits(20.0, 8000.0)                   # CurrentDemandReq limits
    _tick(port, sess, sup, m, 90, S.S_CLOSED | S.S_PS_READY)
    assert m.veh_max_i == 20.0 and m.veh_max_p == 8000.0


def test_a_protocol_fault_is_posted_with_its_kind_and_fails_the_session():
    port, sess, sup, m = _rig()
    _to_precharge(port, sess, sup, m)
    port.stop(P.STOP_PROTOCOL, 7)
    acts = _tick(port, sess, sup, m, 40)
    assert sess.state == T.DC_LINK_DISCHARGE and acts & T.A_FAIL and acts & T.A_PROTO_STOP
    assert sess.last_event == T.EV_PROTOCOL_FAULT and port.stop_kind == P.STOP_PROTOCOL
    assert port.take_stop()


def test_a_car_that_left_is_a_vehicle_stop_not_a_failure():
    port, sess, sup, m = _rig()
    _to_precharge(port, sess, sup, m)
    port.stop(P.STOP_VEHICLE_ABORT, 3)
    acts = _tick(port, sess, sup, m, 40)
    assert sess.last_event == T.EV_VEHICLE_STOP and not acts & T.A_FAIL and acts & T.A_PROTO_STOP
    assert port.stop_kind == P.STOP_VEHICLE_ABORT and port.stop_code == 3 and not sess.failed
    port.stop(P.STOP_PROTOCOL)                  # one stop per session: the first kind stays
    assert port.stop_kind == P.STOP_VEHICLE_ABORT


def test_a_normal_vehicle_stop_is_not_a_failure():
    port, sess, sup, m = _rig()
    _to_precharge(port, sess, sup, m)
    port.stop(P.STOP_NORMAL)
    acts = _tick(port, sess, sup, m, 40)
    assert sess.last_event == T.EV_VEHICLE_STOP and not acts & T.A_FAIL


def test_the_session_ends_only_when_the_protocol_has_let_go():
    port, sess, sup, m = _rig()
    _to_precharge(port, sess, sup, m)
    port.lines(P.L_D1 | P.L_LOCK)
    sess.post(T.EV_STOP)
    _tick(port, sess, sup, m, 40)
    assert sess.state == T.DC_LINK_DISCHARGE
    for t in range(50, 200, 10):
        _tick(port, sess, sup, m, t, S.S_DISCHARGED)
    assert sess.state == T.DC_LINK_DISCHARGE        # lines still held
    port.lines(0)
    port.finished(True)
    _tick(port, sess, sup, m, 200, S.S_DISCHARGED)
    assert sess.state == T.DC_LINK_DISCHARGE        # the lines go off in this tick's update
    _tick(port, sess, sup, m, 210, S.S_DISCHARGED)
    assert sess.state == T.READY_TO_UNPLUG


def test_a_start_while_the_protocol_ends_is_held_not_dropped():
    port, sess, sup, m = _rig()
    sess.set_plugged(True)
    _tick(port, sess, sup, m, 0)
    sess.post(T.EV_START)
    _tick(port, sess, sup, m, 10)
    assert port.take_start()
    port.finished(False)
    port.lines(P.L_D1)
    sess.post(T.EV_STOP)
    _tick(port, sess, sup, m, 20)
    assert sess.state == T.PLUGGED and port.take_stop()
    sess.post(T.EV_START)
    for t in range(30, 100, 10):
        _tick(port, sess, sup, m, t)
    assert sess.state == T.PLUGGED and not port.take_start()     # held
    port.lines(0)
    port.finished(True)
    _tick(port, sess, sup, m, 100)                  # d1 goes off in this tick's update
    _tick(port, sess, sup, m, 110)
    assert sess.state == T.HANDSHAKE and port.take_start()


def test_d2_rises_only_with_d1_and_a_dead_inlet_and_falls_on_a_trip():
    # the rule is the supervisor's (issue 8: d1/d2 are Cmd fields); the port
    # passes the request and reports the decision
    port, sess, _sup, m = _rig()
    sup = S.Supervisor()
    port.lines(P.L_D1 | P.L_D2)

    def step(now, v):
        m.v_inlet = v
        sup.request(port.want_lines, port.cp_duty_pm)
        sup.step(now, m, 0)
        port.update(now, sup.status, sup, m, T.HANDSHAKE, 0, False)

    step(0, 35.0)
    assert port.granted == P.L_D1
    step(10, 5.0)
    assert port.granted == P.L_D1 | P.L_D2
    step(20, 380.0)                                     # the car closed: d2 stays
    assert port.granted & P.L_D2
    m.estop_ok = False                                  # a trip
    step(30, 380.0)
    assert not port.granted & P.L_D2 and port.tripped
