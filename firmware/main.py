"""Device entry point (copied to the board as main.py): board HAL, the app,
and the board wiring of the safety paths:

- reset cause: a watchdog reset boots with the main-loop stall latched
  (machine.reset_cause() == machine.WDT_RESET -> RESET_WATCHDOG);
- E-stop: a hard pin interrupt on the edge that asserts ESTOP trips the
  supervisor and drops every output in the interrupt itself;
- stall monitor: a hardware timer every MONITOR_PERIOD_MS (10 ms) runs the
  supervisor's monitor, which cuts the power stage after LOOP_STALL_MS
  (50 ms) without a control step and opens the contactors and d1/d2
  PS_CUT_SETTLE_MS (20 ms) later; the 500 ms watchdog is only the backstop.
Both interrupt paths read time with clock.irq_now_ms() (no state written,
no allocation) and never feed the watchdog.

Main loop: run the due tasks, then sleep until the next one is due (at most
_IDLE_MAX_MS, the shortest task period: service/internal CAN every 5 ms).
"""
import time

import machine
import micropython

from firmware.app.box import BoxApp
from firmware.hal.board import make_board_hal
from firmware.app import safety_app
from firmware.safety import limits as L

_IDLE_MAX_MS = 5
_MONITOR_TIMER = -1          # virtual timer id (machine.Timer on the STM32 port)


def reset_cause(m):
    return safety_app.RESET_WATCHDOG if m.reset_cause() == m.WDT_RESET else safety_app.RESET_POWER_ON


def wire(app, hal, m):
    """Bind the E-stop interrupt and start the stall-monitor timer. Returns
    the timer (kept referenced so it is not collected)."""
    clock = hal.clock

    def on_estop(_pin):
        app.estop_irq(clock.irq_now_ms())

    def on_monitor(_timer):
        app.monitor_irq(clock.irq_now_ms())

    hal.gpio["ESTOP"].on_active(on_estop)
    return m.Timer(_MONITOR_TIMER, period=L.MONITOR_PERIOD_MS, mode=m.Timer.PERIODIC, callback=on_monitor)


def boot(m=machine):
    micropython.alloc_emergency_exception_buf(100)
    hal = make_board_hal()
    app = BoxApp(hal, discharge=True, reset_cause=reset_cause(m))
    app.boot()
    timer = wire(app, hal, m)
    return app, hal, timer


def loop_once(app, hal):
    t0 = time.ticks_us()
    app.step()
    app.account_busy_us(time.ticks_diff(time.ticks_us(), t0))
    wait = app.next_wake_ms() - hal.clock.now_ms()
    if wait > 0:
        time.sleep_ms(wait if wait < _IDLE_MAX_MS else _IDLE_MAX_MS)   # interrupts run meanwhile


def run():
    app, hal, _timer = boot()
    while True:
        loop_once(app, hal)


if __name__ == "__main__":
    run()
