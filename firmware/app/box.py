"""The box application: builds every core on a given HAL and runs them
from one cooperative scheduler. Same code on the board and in the sim.

    app = BoxApp(hal, discharge=True)   # hal from firmware.hal.board or firmware.hal.sim
    app.boot()
    while True: app.step()              # board main loop (firmware/main.py)

discharge=False is the service skeleton (heartbeat, watchdog, service CAN)
without the power path; discharge=True adds firmware.app.discharge (the
CHAdeMO V2X session through the safety supervisor) as `self.power`. The
watchdog has one owner: SafetyApp (started at boot, fed by every control
tick) with discharge on, the skeleton's own feed task otherwise.

The service tool's ToolCommand frame (dbc/box.dbc: Start / Stop / ClearFaults,
once per CommandCounter value) drives either power path, CHAdeMO or CCS, through
the same start / stop / clear_faults the board's buttons use.
"""
from micropython import const

from firmware.app.heartbeat import Heartbeat
from firmware.can.gen import box
from firmware.can.node import CanNode
from firmware.core.scheduler import Scheduler
from firmware.safety import limits as L

_WDT_FEED_MS = const(100)    # well inside the 500 ms hardware window (pins.WDT_TIMEOUT_MS)
_CAN_POLL_MS = const(5)      # service CAN: RX drain + cyclic TX (shortest cycle is 100 ms)
_PS_POLL_MS = const(5)       # internal CAN: status frames every 10 ms
_LOAD_WINDOW_MS = const(1000)
_DIAG_POLL_MS = const(1)     # UDS: jobs, timers, and the service port drained during downloads


class BoxApp:
    def __init__(self, hal, wdt_timeout_ms=500, discharge=False, diag=None, reset_cause=0):
        self.hal = hal
        self.sched = Scheduler(hal.clock)
        # the service CAN carries no supervised frames: no node events to act on
        self.service = CanNode(hal.can["service"])
        # status published on the service CAN (the session core updates these)
        self.session_state = box.SessionState_Idle
        self.fault_active = False
        self.load_pct = 0
        self.heartbeat = Heartbeat(self)
        self._wdt_timeout_ms = wdt_timeout_ms
        self._busy_us = 0
        self.discharge = discharge    # True: CHAdeMO power path; "ccs": CCS / NACS (firmware.app.ccs)
        self.reset_cause = reset_cause   # firmware.app.safety_app.RESET_* (a watchdog reset latches a stall)
        self.power = None
        self.v2g_transport = None     # discharge="ccs": the V2G transport (set before boot)
        self.v2g_cfg = None           # discharge="ccs": Secc configuration
        self.diag_cfg = diag          # firmware.diag.box.DiagConfig: UDS on the service CAN
        self.diag = None
        self.reset_requested = 0      # set by UDS ECUReset; the main loop resets after the response
        self.service_rx_on = True
        self._tool_counter = -1       # CommandCounter of the last ToolCommand acted on

    def boot(self):
        hal = self.hal
        # Outputs are de-energised by the backends at construction; the
        # safety supervisor owns them from here on.
        self.service.add_tx(box.ID_BoxHeartbeat, box, self.heartbeat.values,
                            fill=self.heartbeat.fill, scaling=False)
        if self.discharge:
            if self.discharge == "ccs":
                from firmware.app.ccs import CcsDischarge
                self.power = p = CcsDischarge(hal, self.service, self.v2g_transport, self.v2g_cfg,
                                              self.reset_cause)
            else:
                from firmware.app.discharge import Discharge   # the skeleton stays small without it
                self.power = p = Discharge(hal, self.service, self.reset_cause)
            self.sched.every(L.SUPERVISOR_PERIOD_MS, self._control, "control")
            self.sched.every(_PS_POLL_MS, p.ps.poll, "internal-can")
            self.service.on_rx(box.ID_ToolCommand, box, self._tool, supervise=False)
        else:
            hal.wdt.start(self._wdt_timeout_ms)
            self.sched.every(_WDT_FEED_MS, self._feed_wdt, "wdt")
        if self.diag_cfg is not None:
            from firmware.diag.box import REQ_ID, Diag
            cfg = self.diag_cfg
            if cfg.version is None:
                from firmware.app import version as V
                cfg.version = (V.MAJOR << 24) | (V.MINOR << 16)
            if self.power is None and cfg.config is None:
                # the skeleton has no SafetyApp: UDS still reads/writes the same partitions
                from firmware.safety.config import Config
                from firmware.safety.dtc import DtcStore
                cf = hal.storage["config"]
                df = hal.storage["dtc"]
                cfg.config = Config(cf, 0, cf.size // cf.sector_size)
                cfg.config.load()
                cfg.dtc = DtcStore(df, 0, df.size // df.sector_size)
                cfg.dtc.mount()
            self.diag = d = Diag(self, self.diag_cfg, hal.clock.now_ms())
            self.service.on_raw(REQ_ID, d.on_frame)
            self.sched.every(_DIAG_POLL_MS, d.poll, "diag")
        self.sched.every(_CAN_POLL_MS, self.service.poll, "service-can")
        self.sched.every(_LOAD_WINDOW_MS, self._roll_load, "load")

    def _control(self, now):
        p = self.power
        if p is None:
            return
        p.control(now)
        self.session_state = p.state
        self.fault_active = p.fault_active

    # ------------------------------------------------------------ user / board glue
    def start(self):
        p = self.power
        if p is not None:
            p.start()

    def stop(self):
        p = self.power
        if p is not None:
            p.stop()

    def clear_faults(self):
        p = self.power
        if p is not None:
            p.clear_faults()

    def _tool(self, fid, v, now):
        """ToolCommand on the service CAN: Start / Stop / ClearFaults, once per
        CommandCounter value (the tool may repeat a frame); None and unknown
        commands do nothing."""
        n = v["CommandCounter"]
        if n == self._tool_counter:
            return
        self._tool_counter = n
        c = v["Command"]
        if c == box.Command_Start:
            self.start()
        elif c == box.Command_Stop:
            self.stop()
        elif c == box.Command_ClearFaults:
            self.clear_faults()

    def estop_irq(self, now):
        p = self.power
        if p is not None:
            p.estop_irq(now)

    def monitor_irq(self, now):
        """Stall-monitor timer interrupt (every limits.MONITOR_PERIOD_MS)."""
        p = self.power
        if p is not None:
            p.safety.monitor(now)

    def step(self):
        """One pass of the main loop; returns the number of tasks run."""
        return self.sched.tick()

    def next_wake_ms(self):
        return self.sched.next_due_ms()

    def _feed_wdt(self, now_ms):
        self.hal.wdt.feed()

    def _roll_load(self, now_ms):
        self.load_pct = self._busy_us // (_LOAD_WINDOW_MS * 10)
        self._busy_us = 0

    def account_busy_us(self, us):
        """The main loop reports time spent in tasks (board: ticks_us)."""
        self._busy_us += us
