"""Issue 8 item 6 (races): the session's lifecycle ends only when the protocol
has finished, and a start that arrives while the protocol is still ending is
deferred, not dropped. End to end on the bench (real firmware, simulated car)."""
import pytest

from firmware.safety import dtc as D
from firmware.safety import faults as fl
from firmware.charging import table as T
from hil.rigs.discharge import DischargeRig
from hil.vehicles.chademo_car import ChademoCar

LINES = ("CHADEMO_D1", "CHADEMO_D2", "LOCK_MOTOR")


def _to_supplying(b):
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING, 20000), b.state_names()


def _last_off(b, role):
    ch = b.hal.gpio[role].changes
    return ch[-1][0] if ch and ch[-1][1] == 0 else None


def test_ready_to_unplug_only_after_d2_d1_and_the_lock_are_released():
    b = DischargeRig(car=ChademoCar(soc=70), load_w=2000.0)
    _to_supplying(b)
    b.run(1000)
    b.stop()
    assert b.run_until(lambda b: b.state == T.READY_TO_UNPLUG, 20000), b.state_names()
    t_ready = b.states[-1][0]
    for role in LINES:
        assert b.out(role) == 0, (role, b.hal.gpio[role].changes[-3:])
        assert _last_off(b, role) is not None and _last_off(b, role) <= t_ready, role
    assert b.app.power.core.state_name() == "Idle"


@pytest.mark.parametrize("after_start_ms, gap_ms", [(300, 50), (600, 200), (1500, 400)])
def test_stop_then_start_within_half_a_second_is_honoured_and_latches_nothing(after_start_ms, gap_ms):
    """Stop during the handshake, start again before the CHAdeMO side has
    released d1 (500 ms after d2): the start waits for the protocol instead of
    being dropped, and no vehicle-link fault (U1A00) latches."""
    b = DischargeRig(car=ChademoCar(soc=70), load_w=2000.0)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    b.run(after_start_ms)
    assert b.state == T.HANDSHAKE
    b.stop()
    b.run(gap_ms)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING, 30000), b.state_names()
    assert b.app.power.safety.sup.faults == 0
    dtc = b.app.power.safety.dtc
    assert not dtc.status(D.FAULT_DTC[fl.F_VEHICLE_LINK]) & D.TF
    assert not dtc.status(D.DTC_SESSION_FAIL) & D.TF
