"""The power path of the box, composed: CHAdeMO V2X session through the real
safety supervisor, the power-stage link and the service status frames.

    vehicle CAN  ChademoLink(ChademoCharger)  -- ChademoGlue --+
    internal CAN PowerStageLink  -> Meas / <- Cmd              |
    SafetyApp (io -> supervisor -> session -> DTC -> io) <-----+
    service CAN  Status frames (BoxSession, BoxDc/AcMeasurements, ...)

`control(now)` is the one control task (every SUPERVISOR_PERIOD_MS): glue
inputs, vehicle link poll, SafetyApp.tick, glue outputs, status accounting.
SafetyApp starts and feeds the watchdog (its only owner in this set-up).
"""
from micropython import const

from firmware.app.chademo_glue import ChademoGlue
from firmware.app.power_stage import PowerStageLink
from firmware.app.status import Status
from firmware.can.gen import box
from firmware.protocols.chademo.charger import ChademoCharger
from firmware.protocols.chademo.link import ChademoLink
from firmware.core.ring import Ring
from firmware.safety import supervisor as sv
from firmware.app.safety_app import SafetyApp
from firmware.charging import table as T

CHADEMO_BOX_LIMIT_A = const(30)   # what the box takes from the inlet (limits.CABLE_RATING_A class)


class Discharge:
    def __init__(self, hal, service_node, reset_cause=0):
        self.safety = s = SafetyApp(hal, reset_cause)   # starts the watchdog
        self.core = ChademoCharger(Ring(16), box_limit_a=CHADEMO_BOX_LIMIT_A)
        self.link = ChademoLink(self.core, hal.can["vehicle"])
        self.glue = ChademoGlue(hal, self.core, self.link, s)
        self.ps = PowerStageLink(hal.can["internal"], s.sup, s.m, s.session)
        self.status = Status(s, self.core, self.ps)
        self.status.register(service_node)
        service_node.on_rx(box.ID_ToolCommand, box, self._tool, supervise=False)
        self._tool_counter = -1
        self.sup_status = 0
        self.last_acts = 0

    def control(self, now):
        g = self.glue
        g.inputs(now)
        self.link.poll(now)
        acts = self.safety.tick(now)
        st = self.safety.sup.status
        g.outputs(now, st, acts)
        self.status.account(now, acts)
        self.sup_status = st
        self.last_acts = acts

    def _tool(self, fid, v, now):
        """ToolCommand on the service CAN: Start / Stop / ClearFaults, once per
        CommandCounter value (the tool may repeat a frame)."""
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
            self.safety.session.reset()

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

    def estop_irq(self, now):
        """ESTOP asserted (board: pin IRQ; bench: the fault hook): the
        supervisor trips and drops d1/d2 (Cmd) in the same interrupt, so the
        car opens its contactors too."""
        self.safety.estop_irq(now)
