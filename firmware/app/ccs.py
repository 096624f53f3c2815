"""The power path of the box for CCS / NACS cars, composed like the CHAdeMO one
(firmware/app/discharge.py): the SECC through the charging port and the real
safety supervisor, the power-stage link and the service status frames.

    PLC/TCP   V2G transport (edge) -> Secc (SDP, SAP, DIN / ISO-2 / ISO-20)  [protocols/ccs]
                                        | verbs (CcsPortVerbs, below)
    pilot     ControlPilot (samples in, oscillator request out)            [protocols/ccs]
                                     ChargingPort  <-> Session              [charging]
    internal CAN PowerStageLink  -> Meas / <- Cmd                            [app]
    SafetyApp (io -> supervisor -> session -> DTC -> io)                     [app over safety]
    service CAN  Status frames                                               [app]

The SECC only asks: every verb is a request field of the ChargingPort; the
session and the supervisor decide, and the SECC reads the outcome back.

`control(now)` is the one control task (every SUPERVISOR_PERIOD_MS): pilot
timers and plug level, session commands (start/stop), SECC step (transport
events, requests), the car's data into the port, SafetyApp.tick, port
status, the pilot line. `pilot_sample(high_mv, low_mv, now)` is the edge of
the pilot ADC (board: triggered inside each half of the 1 kHz wave).

The pilot output (hal.pwm["CP_PWM"]): 1 kHz at the granted duty while
L_CP_PWM is granted; otherwise static +12 V (state X1, duty 1000 at 0 Hz);
static -12 V (duty 0 at 0 Hz) while L_CP_F is granted. Once issue 8's Cmd
carries cp_pwm_on / cp_duty_pm / cp_state_f the supervisor's fields drive it.
"""
from micropython import const

from firmware.app.power_stage import PowerStageLink
from firmware.app.safety_app import SafetyApp
from firmware.app.status import Status
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.charging.port import ChargingPort
from firmware.protocols.ccs import cp as CP
from firmware.protocols.ccs.cp import ControlPilot
from firmware.protocols.ccs.port import ChargingPortVerbs, ISO_FAULT, ISO_VALID
from firmware.protocols.ccs.secc import Secc
from firmware.safety import supervisor as sv

CP_FREQ_HZ = const(1000)      # IEC 61851-1 Annex A: 1 kHz oscillator


class CcsPortVerbs(ChargingPortVerbs):
    """ChargingPortVerbs as the real session needs them:
      * the isolation result is latched: the port reports Valid only while the
        session is in IsolationCheck, the SECC reads it at its own pace
        (CableCheck requests every ~100 ms); a later fault still shows as Fault;
      * close(): the car closes its contactors before PowerDeliveryReq(start)
        (DIN 70121 [V2G-DC-...] sequence: PreCharge done -> EV closes -> PowerDelivery),
        so the port learns `veh_closed` here; open(): PowerDeliveryReq(stop) ends
        the energy transfer: the session stops (current down, contactors open);
      * stop(): the kind (in order / protocol failure) is the composition's
        to decide from the session's end reason (`stop_wanted`)."""

    def __init__(self, cp, **kw):
        ChargingPortVerbs.__init__(self, cp, **kw)
        self.car_closed = False
        self.stop_wanted = False
        self.delivery_stopped = False
        self._latched = False

    def reset(self):
        self.car_closed = False
        self.stop_wanted = False
        self.delivery_stopped = False
        self._latched = False
        self._valid_seen = False
        self._checking = False
        self._wh = 0.0

    def cable_check(self, volts):
        if volts > 0:
            self._latched = False
        ChargingPortVerbs.cable_check(self, volts)

    def isolation(self):
        iso = self.cp.iso
        if iso == ISO_FAULT:
            return ISO_FAULT
        if iso == ISO_VALID:
            self._latched = True
        if self._latched:
            self._valid_seen = True
            return ISO_VALID
        return iso

    def close(self):
        self.car_closed = True
        ChargingPortVerbs.close(self)

    def open(self):
        self.car_closed = False
        self.delivery_stopped = True
        self.cp.contactors(False)
        self.cp.stop(P.STOP_NORMAL)

    def stop(self):
        cp = self.cp
        cp.contactors(False)
        cp.precharge(0)
        self.car_closed = False
        self.stop_wanted = True

    def observe(self, now):
        """Every control tick, after the port's update: latch, energy."""
        self.isolation()
        self.step(now)


class _CarView:
    """What the status frames read of the protocol core (firmware.app.status),
    from the charging port. `reason` is CHAdeMO's END_* code there; the CCS
    reasons are in the SECC's session records, so the status shows the kinds."""
    reason = -1

    def __init__(self, port):
        self.port = port

    @property
    def ev_max_dis_a(self):
        return max(0.0, self.port.veh_max_i)

    @property
    def ev_min_dis_v(self):
        return max(0.0, self.port.veh_min_v)

    @property
    def ev_max_v(self):
        return max(0.0, self.port.veh_max_v)


class CcsDischarge:
    def __init__(self, hal, service_node, transport, cfg=None):
        self.port = port = ChargingPort()
        self.safety = s = SafetyApp(hal, port=port)     # starts the watchdog
        self.verbs = CcsPortVerbs(port)
        self.secc = Secc(transport, self.verbs, cfg)
        self.pilot = ControlPilot()
        self.ps = PowerStageLink(hal.can["internal"], s.sup, s.m, s.session, s.config)
        self.status = Status(s, _CarView(port), self.ps)
        self.status.register(service_node)
        self._pwm = hal.pwm["CP_PWM"]
        self._pwm.set(0, 1000)          # X1: static +12 V
        self._open = False
        self.active = False             # a box session owns the pilot (start .. protocol released)
        self.v2g_done = False           # the V2G session of this box session has ended
        self._n_rec = 0
        self.sessions = 0
        self.log = []                   # (now, text)
        self.sup_status = 0

    # ------------------------------------------------------------ edges
    def pilot_sample(self, high_mv, low_mv, now):
        self.pilot.sample(high_mv, low_mv, now)

    # ------------------------------------------------------------ control task
    def control(self, now):
        s = self.safety
        port = self.port
        pilot = self.pilot
        pilot.handle_timer(now)
        pilot.events()
        s.session.set_plugged(pilot.state == CP.B or pilot.state == CP.C or pilot.state == CP.D)
        if port.take_start():
            self._begin(now)
        if port.take_stop():
            self.secc.stop("box")
        if self.active:
            self.secc.step(now)
            self._from_secc(now)
        port.fill(s.m)
        acts = s.tick(now)
        st = s.sup.status
        port.update(now, st, s.sup, s.m, s.session.state, acts, False)
        self.verbs.observe(now)
        self._lines(now)
        self.status.account(now, acts)
        self.sup_status = st

    def _begin(self, now):
        if not self._open:
            self.secc.open(now)
            self._open = True
        self.verbs.reset()
        self.active = True
        self.v2g_done = False
        self._n_rec = len(self.secc.records)
        self.sessions += 1
        self.pilot.restart(now)
        self.port.finished(False)
        self.log.append((now, "session %d: pilot 5 %%, SECC waiting for the car" % self.sessions))

    def _core(self):
        c = self.secc.conn
        return c.core if c is not None else None

    def _from_secc(self, now):
        port = self.port
        v = self.verbs
        core = self._core()
        if core is not None:
            if core.last_res_at is not None:
                port.alive(core.last_res_at)
            ev = core.ev
            soc = ev.get("soc")
            vmax = ev.get("max_v")
            port.vehicle(soc if soc is not None else -1, vmax if vmax else -1.0, -1.0, v.car_closed)
        if v.stop_wanted and port.stop_kind == P.STOP_NONE:
            why = core.end_reason if core is not None else ""
            if not why and self.secc.records:
                why = self.secc.records[-1]["ended"]
            kind = P.STOP_NORMAL if why == "session stop" or v.delivery_stopped else P.STOP_PROTOCOL
            port.stop(kind)
            self.log.append((now, "SECC ended: %s" % why))
        if not self.v2g_done and self.secc.conn is None and len(self.secc.records) > self._n_rec:
            self.v2g_done = True
            self.pilot.session_stop(now)
            port.vehicle(-1, -1.0, -1.0, False)

    def _lines(self, now):
        port = self.port
        if self.active:
            m, duty = self.pilot.port_lines()
            port.lines(m, duty)
            if self.v2g_done and not m & (P.L_CP_PWM | P.L_CP_F):
                port.finished(True)
                self.active = False
        else:
            port.lines(0, 0)
        g = port.granted
        if g & P.L_CP_F:
            self._pwm.set(0, 0)
        elif g & P.L_CP_PWM:
            self._pwm.set(CP_FREQ_HZ, port.cp_duty_pm)
        else:
            self._pwm.set(0, 1000)

    # ------------------------------------------------------------ user / board glue
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
        """ESTOP falling edge: the supervisor trips; the pilot drops to X1 at once."""
        self.safety.estop_irq(now)
        self.port.drop(P.L_CP_PWM)
        self._pwm.set(0, 1000)
