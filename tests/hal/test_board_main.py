"""The board entry point wires the safety paths (firmware/main.py over the
stubbed machine/pyb modules): reset cause, E-stop pin interrupt, stall
monitor timer; and the board clock is safe to read from an interrupt."""
import sys

import pytest

import firmware  # noqa: F401
from firmware.core.clock import TicksUnwrapper
from firmware.safety import faults as fl
from firmware.safety import limits as L
from tests.hal import board_stubs


def _boot(reset_cause):
    mods = board_stubs.install(reset_cause=reset_cause)
    sys.modules.pop("firmware.main", None)
    import firmware.main as main
    main.time = mods.time
    app, hal, timer = main.boot(mods.machine)
    mods.pins["E4"].set_ext(1)       # E-stop loop closed
    mods.pins["E7"].set_ext(1)       # RCD armed
    return mods, main, app, hal, timer


@pytest.fixture(autouse=True)
def _clean():
    yield
    board_stubs.uninstall()
    sys.modules.pop("firmware.main", None)


def _loop(mods, main, app, hal, ms):
    for _ in range(ms):
        mods.ticks[0] += 1
        main.loop_once(app, hal)


def test_watchdog_reset_boots_with_the_stall_latched():
    mods, main, app, hal, _t = _boot(mods_reset := 3)      # machine.WDT_RESET
    assert mods_reset == mods.machine.WDT_RESET
    assert app.power.safety.sup.faults & (1 << fl.F_LOOP_STALL)
    mods2, main2, app2, hal2, _t2 = _boot(1)                # power on
    assert not app2.power.safety.sup.faults & (1 << fl.F_LOOP_STALL)


def test_estop_interrupt_trips_without_a_main_loop_step():
    mods, main, app, hal, _t = _boot(1)
    _loop(mods, main, app, hal, 50)
    sup = app.power.safety.sup
    assert not sup.faults & (1 << fl.F_ESTOP)
    pin = mods.pins["E4"]
    assert pin.irq_args[1] == mods.machine.Pin.IRQ_FALLING and pin.irq_args[2] is True
    steps = app.sched.tick                       # no main-loop pass from here on
    pin.set_ext(0)                               # the loop opens: falling edge -> IRQ
    assert sup.faults & (1 << fl.F_ESTOP)
    assert sup.cmd.safe() and sup.cmd.cp_state_f == 1
    assert mods.pins["D13"].value() == 0         # d2 released on the wire
    assert app.sched.tick == steps


def test_stall_monitor_timer_runs_without_the_main_loop():
    mods, main, app, hal, timer = _boot(1)
    assert timer.period == L.MONITOR_PERIOD_MS and timer.callback is not None
    _loop(mods, main, app, hal, 100)
    sup = app.power.safety.sup
    assert not sup.faults & (1 << fl.F_LOOP_STALL)
    for _ in range(10):                          # main loop hung: only the timer runs
        mods.ticks[0] += L.MONITOR_PERIOD_MS
        timer.callback(timer)
    assert sup.faults & (1 << fl.F_LOOP_STALL)


def test_main_loop_sleeps_no_longer_than_the_shortest_task_period():
    mods, main, app, hal, _t = _boot(1)
    slept = []
    mods.time.sleep_ms = slept.append
    _loop(mods, main, app, hal, 30)
    assert slept and max(slept) <= 5


def test_ticks_unwrapper_is_consistent_when_interrupted_anywhere():
    """An interrupt may arrive between any two lines of now_ms(); what it
    reads must equal the true elapsed time. The old unwrapper updated the
    count and the last tick in two steps: an interrupt between them counted
    the same ticks twice."""
    wrap = 1 << 30

    def diff(a, b):
        return ((a - b + (wrap >> 1)) % wrap) - (wrap >> 1)

    for at in range(8):                  # the interrupt hits the at-th line only
        ticks = [wrap - 20]
        u = TicksUnwrapper(lambda: ticks[0] % wrap, diff)
        irq_read = getattr(u, "irq_now_ms", u.now_ms)
        seen = []
        n = [0]

        def tracer(frame, event, arg):
            if frame.f_code.co_name == "now_ms" and event == "line":
                if n[0] == at:
                    seen.append(irq_read() - (ticks[0] - (wrap - 20)))
                n[0] += 1
            return tracer

        for step in (7, 13, (wrap >> 1) - 10):      # crosses the wrap
            ticks[0] += step
            n[0] = 0
            sys.settrace(tracer)
            try:
                got = u.now_ms()
            finally:
                sys.settrace(None)
            assert got == ticks[0] - (wrap - 20)
            assert all(e == 0 for e in seen), (at, seen)
