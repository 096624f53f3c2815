"""The box application: builds every core on a given HAL and runs them
from one cooperative scheduler. Same code on the board and in the sim.

    app = BoxApp(hal)        # hal from firmware.hal.board or firmware.hal.sim
    app.boot()
    while True: app.step()   # board main loop (idles with WFI between ticks)
"""
from micropython import const

from firmware.app.heartbeat import ID as ID_HEARTBEAT
from firmware.app.heartbeat import PERIOD_MS as HEARTBEAT_PERIOD_MS
from firmware.app.heartbeat import Heartbeat
from firmware.core.scheduler import Scheduler
from firmware.hal.interface import CAN_BUS_OFF

_WDT_FEED_MS = const(100)   # well inside pins.WDT_TIMEOUT_MS (500 ms)
_LOAD_WINDOW_MS = const(1000)


class BoxApp:
    def __init__(self, hal, wdt_timeout_ms=500):
        self.hal = hal
        self.sched = Scheduler(hal.clock)
        self.heartbeat = Heartbeat()
        self.session_state = 0   # Idle until the session core takes over
        self.fault_active = False
        self.tx_dropped = 0
        self.booted_ms = None
        self._wdt_timeout_ms = wdt_timeout_ms
        self._service = hal.can["service"]
        self._busy_us = 0
        self._load_pct = 0

    def boot(self):
        hal = self.hal
        # Outputs are de-energised by the backends at construction; the
        # safety supervisor owns them from here on.
        hal.wdt.start(self._wdt_timeout_ms)
        self.sched.every(_WDT_FEED_MS, self._feed_wdt, "wdt")
        self.sched.every(HEARTBEAT_PERIOD_MS, self._send_heartbeat, "heartbeat")
        self.sched.every(_LOAD_WINDOW_MS, self._roll_load, "load")
        self.booted_ms = hal.clock.now_ms()

    def step(self):
        """One pass of the main loop; returns the number of tasks run."""
        return self.sched.tick()

    def next_wake_ms(self):
        return self.sched.next_due_ms()

    def _feed_wdt(self, now_ms):
        self.hal.wdt.feed()

    def _send_heartbeat(self, now_ms):
        port = self._service
        if port.state() == CAN_BUS_OFF:
            port.restart()
            return
        data = self.heartbeat.frame(now_ms, self.session_state, self.fault_active, self._load_pct)
        if not port.send(ID_HEARTBEAT, data):
            self.tx_dropped += 1

    def _roll_load(self, now_ms):
        self._load_pct = self._busy_us // (_LOAD_WINDOW_MS * 10)
        self._busy_us = 0

    def account_busy_us(self, us):
        """The main loop reports time spent in tasks (board: ticks_us)."""
        self._busy_us += us
