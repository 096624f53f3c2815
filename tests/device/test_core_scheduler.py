"""Scheduler, clocks and ring: run on CPython (pytest) and inside MicroPython."""
import firmware  # noqa: F401
from firmware.core.clock import SimClock, TicksUnwrapper
from firmware.core.ring import Ring
from firmware.core.scheduler import Scheduler


def test_tasks_run_at_their_period():
    clk = SimClock()
    s = Scheduler(clk)
    seen = []
    s.every(10, lambda now: seen.append(("a", now)))
    s.every(25, lambda now: seen.append(("b", now)), phase_ms=5)
    while clk.now_ms() <= 50:
        s.tick()
        clk.set(s.next_due_ms())
    assert [t for n, t in seen if n == "a"] == [0, 10, 20, 30, 40, 50]
    assert [t for n, t in seen if n == "b"] == [5, 30]


def test_late_loop_rephases_instead_of_bursting():
    clk = SimClock()
    s = Scheduler(clk)
    seen = []
    s.every(10, seen.append)
    s.tick()
    clk.advance(35)           # the loop stalled for 3.5 periods
    assert s.tick() == 1      # runs once, not three times
    assert s.overruns == 1
    assert s.next_due_ms() == 45


def test_scheduler_rejects_bad_period_and_full_table():
    s = Scheduler(SimClock(), max_tasks=1)
    try:
        s.every(0, print)
        assert False, "period 0 accepted"
    except ValueError:
        pass
    s.every(5, print)
    try:
        s.every(5, print)
        assert False, "table overflow accepted"
    except ValueError:
        pass


def test_sim_clock_never_goes_back():
    c = SimClock(100)
    try:
        c.set(50)
        assert False
    except ValueError:
        pass
    c.advance(5)
    assert c.now_ms() == 105


def test_ticks_unwrapper_survives_wraparound():
    period = 1 << 30
    state = [period - 20]

    def diff(a, b):  # time.ticks_diff semantics for a 30-bit counter
        return ((a - b + period // 2) % period) - period // 2

    u = TicksUnwrapper(lambda: state[0], diff)
    state[0] = (state[0] + 50) % period
    assert u.now_ms() == 50
    state[0] = (state[0] + 1000) % period
    assert u.now_ms() == 1050


def test_ring_is_fifo_and_drops_on_overflow():
    r = Ring(2)
    assert r.put(1, "a") and r.put(2, "b")
    assert not r.put(3, "c")
    assert r.dropped == 1
    assert r.get() == (1, "a")
    r.put(4, None)
    assert r.get() == (2, "b")
    assert r.get() == (4, None)
    assert len(r) == 0
    try:
        r.get()
        assert False
    except IndexError:
        pass
