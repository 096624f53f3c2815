"""The power path of the box, composed: CHAdeMO V2X session through the real
safety supervisor, the power-stage link and the service status frames.

    vehicle CAN  ChademoLink (edge) -> ChademoAdapter(ChademoCharger)  [protocols]
                                          | requests / status
                                       ChargingPort  <-> Session        [charging]
    internal CAN PowerStageLink  -> Meas / <- Cmd                        [app]
    SafetyApp (io -> supervisor -> session -> DTC -> io)                 [app over safety]
    service CAN  Status frames (BoxSession, BoxDc/AcMeasurements, ...)   [app]

`control(now)` is the one control task (every SUPERVISOR_PERIOD_MS):
signal lines in, vehicle link poll, port -> Meas, SafetyApp.tick, port
status, adapter out, signal lines out, status accounting. SafetyApp starts
and feeds the watchdog (its only owner in this set-up).
"""
from micropython import const

from firmware.app.power_stage import PowerStageLink
from firmware.app.safety_app import SafetyApp
from firmware.app.status import Status
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.charging.port import ChargingPort
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.protocols.chademo.link import ChademoLink
from firmware.safety import supervisor as sv

CHADEMO_BOX_LIMIT_A = const(30)   # what the box takes from the inlet (limits.CABLE_RATING_A class)


def _read(pin):
    return pin.value() == 1      # logical level (HAL contract: polarity is the backend's)


class Discharge:
    def __init__(self, hal, service_node, reset_cause=0):
        self.port = port = ChargingPort()
        self.safety = s = SafetyApp(hal, reset_cause, port=port)   # starts the watchdog
        self.core = ChademoCharger(None, box_limit_a=CHADEMO_BOX_LIMIT_A)   # requests read from core.req
        self.link = ChademoLink(self.core, hal.can["vehicle"], port)
        self.adapter = self.link.adapter
        self.ps = PowerStageLink(hal.can["internal"], s.sup, s.m, s.session, s.config)
        self.status = Status(s, self.core, self.ps)
        self.status.register(service_node)
        # d1/d2/lock are Cmd fields: the supervisor drives them (io.apply); the
        # port passes the adapter's line requests to it (SafetyApp.tick)
        self._lock_fb = hal.gpio["LOCK_FB"]
        self._k = hal.gpio["CHADEMO_K"]
        self._prox = hal.gpio["CHADEMO_PROX"]
        self._tool_counter = -1
        self.sup_status = 0

    def control(self, now):
        s = self.safety
        port = self.port
        a = self.adapter
        plugged = _read(self._prox)
        s.session.set_plugged(plugged)
        a.set_signals(plugged, _read(self._k))
        self.link.poll(now)
        port.fill(s.m)
        acts = s.tick(now)
        st = s.sup.status
        port.update(now, st, s.sup, s.m, s.session.state, acts, _read(self._lock_fb))
        a.handle_port(now)
        self.status.account(now, acts)
        self.sup_status = st

    @property
    def state(self):
        return self.safety.session.state

    @property
    def fault_active(self):
        return bool(self.sup_status & sv.S_FAULT)

    def start(self):
        self.safety.session.post(T.EV_START)

    def stop(self):
        self.safety.session.post(T.EV_STOP)

    def clear_faults(self):
        """The user acknowledges a fault: the supervisor clears what may be cleared."""
        self.safety.session.reset()

    def estop_irq(self, now):
        """ESTOP asserted (board: pin IRQ; bench: the fault hook): the
        supervisor trips and drops d1/d2 (Cmd) in the same interrupt, so the
        car opens its contactors too."""
        self.safety.estop_irq(now)
        self.port.drop(P.L_D1 | P.L_D2 | P.L_CP_PWM)   # status only: the pins are the supervisor's
