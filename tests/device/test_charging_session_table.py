"""The session table is complete and consistent (CPython and MicroPython)."""
import firmware  # noqa: F401
from firmware.safety import supervisor as S
from firmware.charging import table as T
from firmware.charging.engine import Session


def test_every_state_named_and_described():
    assert len(T.STATE_NAMES) == T.N_STATES == len(T.STATE_INFO)
    assert len(T.EVENT_NAMES) == T.N_EVENTS


def test_rows_are_well_formed():
    for (s, e), (n, a) in T.TABLE.items():
        assert 0 <= s < T.N_STATES and 0 <= n < T.N_STATES and 0 <= e < T.N_EVENTS
        assert a & ~0x0F == 0


def test_every_state_reachable_from_idle():
    seen = {T.IDLE}
    todo = [T.IDLE]
    while todo:
        s = todo.pop()
        for (a, _e), (n, _x) in T.TABLE.items():
            if a == s and n not in seen:
                seen.add(n)
                todo.append(n)
    assert len(seen) == T.N_STATES


def test_every_state_can_get_back_to_idle():
    for start in range(T.N_STATES):
        seen = {start}
        todo = [start]
        while todo:
            s = todo.pop()
            for (a, _e), (n, _x) in T.TABLE.items():
                if a == s and n not in seen:
                    seen.add(n)
                    todo.append(n)
        assert T.IDLE in seen, T.STATE_NAMES[start]


def test_energised_states_have_a_way_out_on_every_safety_event():
    for s in (T.HANDSHAKE, T.ISOLATION_CHECK, T.PRECHARGE, T.CONTACTORS_CLOSED,
              T.POWER_STAGE_START, T.SUPPLYING):
        for ev in (T.EV_FAULT, T.EV_TRIP, T.EV_LOCKOUT, T.EV_STOP, T.EV_END):
            assert T.lookup(s, ev) is not None, (T.STATE_NAMES[s], T.EVENT_NAMES[ev])
    # a trip with contactors closed always goes through the welding check
    for s in (T.CONTACTORS_CLOSED, T.POWER_STAGE_START, T.SUPPLYING, T.STOPPING):
        assert T.lookup(s, T.EV_TRIP)[0] == T.WELDING_CHECK


def test_only_supplying_may_ask_for_current_and_ac():
    for s in range(T.N_STATES):
        it = T.intent_of(s)
        if s != T.SUPPLYING:
            assert not it & (S.I_CURRENT | S.I_AC), T.STATE_NAMES[s]
        if it & S.I_POWER_STAGE:
            assert it & S.I_CONTACTORS


def test_engine_walks_the_normal_path_on_supervisor_status():
    sup = S.Supervisor()
    ses = Session()
    ses.set_plugged(True)
    ses.step(0, 0, sup)
    assert ses.state == T.PLUGGED
    ses.post(T.EV_START)
    acts = ses.step(10, 0, sup)
    assert ses.state == T.HANDSHAKE and acts & T.A_PROTO_START
    ses.post(T.EV_HANDSHAKE_DONE)
    ses.step(20, 0, sup)
    path = ((S.S_ISO_OK, T.PRECHARGE), (S.S_MATCHED, T.CONTACTORS_CLOSED),
            (S.S_CLOSED, T.POWER_STAGE_START), (S.S_PS_READY, T.SUPPLYING))
    t = 30
    for bit, want in path:
        ses.step(t, bit, sup)
        assert ses.state == want, T.STATE_NAMES[ses.state]
        t += 10
    ses.post(T.EV_STOP)
    acts = ses.step(t, 0, sup)
    assert ses.state == T.STOPPING and acts & T.A_PROTO_STOP


def test_engine_timeout_fails_the_session():
    sup = S.Supervisor()
    ses = Session()
    ses.set_plugged(True)
    ses.step(0, 0, sup)
    ses.post(T.EV_START)
    ses.step(10, 0, sup)
    ses.step(10 + T.timeout_of(T.HANDSHAKE) - 1, 0, sup)
    assert ses.state == T.HANDSHAKE
    acts = ses.step(10 + T.timeout_of(T.HANDSHAKE), 0, sup)
    assert ses.state == T.FAULT and acts & T.A_FAIL and ses.failed
    ses.step(20000 + 10, 0, sup)
    assert ses.state == T.FAULT             # needs a reset
    ses.reset()
    ses.step(20000 + 20, 0, sup)
    assert ses.state == T.IDLE
