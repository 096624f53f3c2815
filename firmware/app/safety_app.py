"""Main-loop glue for the safety side: io -> supervisor -> session -> DTC log
-> io, plus the two interrupt paths (E-stop pin, stall-monitor timer).

Boot: loads the configuration and the DTC journal from flash, re-latches
faults that need service (a welded contactor stays a lockout across power
cycles) and records a watchdog reset as a main-loop stall.

Storage never takes the control loop down: every flash operation (mount,
DTC write, config save) is contained. A failure sets Meas.storage_ok False,
which the supervisor latches as F_STORAGE (an ordinary stop; no new
session). The DTC that could not be written stays in RAM (readable over
UDS), and the next successful write clears the condition.
"""
from micropython import const

from firmware.hal import pins
from firmware.safety import dtc as D
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.safety.config import Config
from firmware.safety.io import SafetyIo
from firmware.safety.supervisor import Meas, Supervisor
from firmware.charging import table as T
from firmware.charging.engine import Session

# Storage: hal.storage["config"] and hal.storage["dtc"], each a partition of
# whole physical erase units (firmware/hal/flash_layout.py per target chip).

RESET_POWER_ON = const(0)
RESET_WATCHDOG = const(1)


class SafetyApp:
    def __init__(self, hal, reset_cause=RESET_POWER_ON, port=None):
        self.hal = hal
        now = hal.clock.now_ms()
        self.m = Meas()
        self.storage_errors = 0
        cf = hal.storage["config"]
        df = hal.storage["dtc"]
        self.config = Config(cf, 0, cf.size // cf.sector_size)
        self._store(self.config.load)
        c = self.config
        self.sup = Supervisor(c.soc_floor_pct, c.max_power_w, c.mode)
        self.session = Session(now, port=port)
        self.io = SafetyIo(hal, self.sup)
        try:
            self.dtc = D.DtcStore(df, 0, df.size // df.sector_size)
        except ValueError:           # partition unfit for the log: keep it in RAM
            self.dtc = D.DtcStore(None, 0, 0)
            self._storage_failed()
        self._store(self.dtc.mount)
        self.ff = D.Freeze()
        self._logged = 0
        self._emergencies = 0
        for i in range(fl.N_FAULTS):
            if fl.FAULTS[i][3] == fl.C_SERVICE and self.dtc.status(D.FAULT_DTC[i]) & D.TF:
                self.sup.faults |= 1 << i
                self._logged |= 1 << i
        if reset_cause == RESET_WATCHDOG:
            self.sup.faults |= 1 << fl.F_LOOP_STALL
        self.io.apply(feed=False)   # everything off until the first step
        hal.wdt.start(pins.WDT_TIMEOUT_MS)

    # ------------------------------------------------------------ storage containment
    def _storage_failed(self):
        self.storage_errors += 1
        self.m.storage_ok = False

    def _store(self, fn, *args):
        """Run one flash operation; a failure is contained and reported as
        F_STORAGE, never raised into the control loop."""
        try:
            fn(*args)
        except Exception:            # OSError/StorageError/JournalFull: all contained
            self._storage_failed()
            return False
        self.m.storage_ok = True
        return True

    # ------------------------------------------------------------ main loop task
    def tick(self, now):
        self.io.read(self.m, now)
        port = self.session.port
        if port is not None:
            # the protocol's line requests (port.L_* == supervisor.P_*): asked, not driven
            self.sup.request(port.want_lines, port.cp_duty_pm)
        status = self.sup.step(now, self.m, self.session.intent)
        acts = self.session.step(now, status, self.sup)
        self.io.apply(feed=True)
        self._log(now, acts)
        self._maintain(now)
        return acts

    _IDLE = (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)

    def _maintain(self, now):
        """While idle with every output off: pre-erase the DTC log's next
        sector, so a compaction during a session only programs. The monitor
        is told of the gap (granted only while nothing is energised)."""
        j = self.dtc.j
        if j is None or not j.needs_spare() or self.session.state not in self._IDLE:
            return
        if self.sup.planned_gap(now, L.FLASH_ERASE_MAX_MS):
            self.hal.wdt.feed()
            self._store(j.prepare)

    def _freeze(self):
        ff = self.ff
        m = self.m
        ff.state = self.session.state
        ff.v_inlet = m.v_inlet
        ff.v_link = m.v_link
        ff.i_dc = m.i_dc
        ff.temp = m.t_inlet if m.t_inlet > m.t_stage else m.t_stage
        ff.soc = m.veh_soc
        ff.faults = self.sup.faults
        return ff

    def _log(self, now, acts):
        sup = self.sup
        if acts & T.A_NEW_CYCLE:
            self._store(self.dtc.new_cycle)
        new = sup.faults & ~self._logged
        gone = self._logged & ~sup.faults
        if new or gone or sup.emergency_opens != self._emergencies or acts & T.A_FAIL:
            ff = self._freeze()
            for i in range(fl.N_FAULTS):
                b = 1 << i
                if new & b:
                    self._store(self.dtc.failed, D.FAULT_DTC[i], now, ff, D.warning_for(i))
                elif gone & b:
                    self._store(self.dtc.passed, D.FAULT_DTC[i])
            if sup.emergency_opens != self._emergencies:
                # an event, not a condition: failed then passed, occurrences count
                ff.i_dc = sup.last_emergency_a
                self._store(self.dtc.failed, D.DTC_EMERGENCY_OPEN, now, ff, True)
                self._store(self.dtc.passed, D.DTC_EMERGENCY_OPEN)
                self._emergencies = sup.emergency_opens
            if acts & T.A_FAIL:
                ff.state = self.session.fail_state
                self._store(self.dtc.failed, D.DTC_SESSION_FAIL, now, ff, False)
                self._store(self.dtc.passed, D.DTC_SESSION_FAIL)
            self._logged = sup.faults

    # ------------------------------------------------------------ interrupt paths
    def estop_irq(self, now):
        """Bound to the ESTOP pin's falling edge by the board glue."""
        self.sup.estop(now)
        self.io.apply(feed=False)

    def monitor(self, now):
        """Bound to a hardware timer every MONITOR_PERIOD_MS."""
        if self.sup.monitor(now):
            self.io.apply(feed=False)

    # ------------------------------------------------------------ user
    def set_config(self, key, value):
        busy = self.session.state not in (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)
        ok, why = self.config.set(key, value, busy)
        if self.config.store_error:
            self._storage_failed()
        if ok:
            c = self.config
            if not self.sup.configure(c.soc_floor_pct, c.max_power_w, c.mode):
                return False, "output mode cannot change while the AC output is energised"
        return ok, why
