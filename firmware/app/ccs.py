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

Session renewal (issue 11 item 5): when the car ends the V2G session on its
own loop timer (PowerDelivery stop, SessionStop, the box never asked to
stop) while the user still wants power, the box starts a new session on the
same plug-in without user action, once the session is back in ReadyToUnplug:
the pilot goes through state F for T_step_EF (4 s, cfg "renew_pilot": "ef";
"x1": straight back to 5 % after the X1 the SessionStop left) so the car
restarts SLAC and SDP. At most cfg "renew_max" renewals per plug-in (default
RENEW_MAX), no two closer than cfg "renew_min_interval_ms" (default
RENEW_MIN_INTERVAL_MS). Every decision is logged (`log`); the AC output gap
(the supervisor's AC relay off .. on again across a renewal) is measured in
`gaps_ms`.

The link (issue 10's CcsLink): with no injected transport the composition
runs on the HAL's modem frame link (`hal.plc`, the QCA7000 FrameLink on the
board, SimFrameLink in the rigs): CcsLink's one ControlPilot is the pilot
here (no second pilot core), its RawTransport (the box's own IPv6/TCP stack)
is the SECC's transport, and SLAC is started with a fresh NMK whenever the
box offers 5 % to a plugged car (a box session starts on a plugged car, or
the car plugs in while a session waits), so every session and every renewal
is a new AVLN; unplug stops SLAC; SLAC's E/F step request goes to the pilot
and from there, as every pilot request, through the port to the supervisor.
cfg "link_mac" is the box's MAC on the modem link (default LINK_MAC), cfg
"rng" the random source for NMKs, TCP ports and ISNs (default os.urandom:
the MCU's TRNG on the board). Pilot and SLAC events are kept in `link_log`
(last LINK_LOG_MAX, for the phase report). An injected transport (the
MemoryTransport of unit tests) runs without a link: no SLAC, no IP.

The pilot output is the supervisor's (Cmd cp_pwm_on / cp_duty_pm / cp_state_f,
driven by SafetyIo): the pilot core's request goes to the port as L_CP_PWM /
L_CP_F lines, only while a box session runs; on a trip the supervisor drives
state F, and while it does the pilot samples are not read (the car cannot be
seen through -12 V; an F read would look like an unplug).

A car that leaves mid-session (issue 11 slice i11-abort): the V2G end is an
event the port reports with its kind (`end_kind`): in order (SessionStop,
PowerDelivery stop: STOP_NORMAL), the car left (closed / reset TCP, stopped
answering until V2G_SECC_Sequence_Timeout, opened its contactors under load:
STOP_VEHICLE_ABORT, an ordinary stop: ramp down on the box's own
measurements, open, weld check, discharge, ReadyToUnplug), or a protocol
failure (FAILED answers, decode errors: STOP_PROTOCOL, the session fails).
The car's last values stay in the port until the session no longer asks for
current: the supervisor needs the SoC while current may flow, and their age
is the vehicle-link age it checks whenever the DC path is closed, so a car
that goes silent while the box still draws current remains a fault
(F_VEHICLE_LINK). A car-side abort after an energy transfer is renewed like a
loop-timer end (cfg "renew_on_abort", default True): the Ioniq that ends on
"charging current differential" after ~10 min (sheet §9, issue 11 item 3)
gives power again at once, and the renewal count and rate bound a car that
keeps aborting.
"""
from micropython import const

from firmware.app.power_stage import PowerStageLink
from firmware.app.safety_app import SafetyApp
from firmware.app.status import Status
from firmware.can.gen import box
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.charging.port import ChargingPort
from firmware.protocols.ccs import cp as CP
from firmware.protocols.ccs.cp import ControlPilot
from firmware.protocols.ccs.link import CcsLink
from firmware.protocols.ccs.port import ChargingPortVerbs, ISO_FAULT, ISO_VALID
from firmware.protocols.ccs.secc import Secc
from firmware.safety import limits as L
from firmware.safety import supervisor as sv

RENEW_MAX = const(10)                 # renewals per plug-in (team)
RENEW_MIN_INTERVAL_MS = const(10000)  # rate: at most one renewal per 10 s (team)
_PROTOCOL = {"din": box.Protocol_Din70121, "iso2": box.Protocol_Iso15118_2, "iso20dc": box.Protocol_Iso15118_20}
_CONNECTOR = {"ccs1": box.Connector_Ccs1, "ccs2": box.Connector_Ccs2, "nacs": box.Connector_Nacs}
LINK_LOG_MAX = const(32)              # pilot / SLAC events kept for the phase report (team)
# The box's MAC on the modem link when the config gives none: locally administered
# (IEEE 802 U/L bit set), so it can never collide with a vendor address (team).
LINK_MAC = b"\x02\x56\x32\x58\x00\x01"
_PLUGGED = (CP.B, CP.C, CP.D)


def _urandom(n):
    import os
    return os.urandom(n)


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
    """What the status frames read of the protocol core (firmware.app.status):
    the car's limits from the charging port; `reason` is CHAdeMO's END_* code
    there (none here); the V2G session's end from the SECC (`end_info`, mapped by
    status.ccs_stop_reason), its protocol, and whether a renewal is under way."""
    reason = -1
    ccs = True

    def __init__(self, port, power):
        self.port = port
        self.power = power          # the CcsDischarge (SECC, renewal state, cfg)

    def end_info(self, now):
        """(stop_requested, end_reason, loops, loop_ms, loop_limit_s, ev_error) of the
        running V2G session, else of the last one recorded."""
        secc = self.power.secc
        c = secc.conn
        core = c.core if c is not None else None
        if core is not None:
            first = core.phase_at.get("CurrentDemandReq", core.phase_at.get("DC_ChargeLoopReq"))
            loop_ms = now - core.t0 - first if first is not None and core.t0 is not None else 0
            return (core.stop_requested, core.end_reason, core.cd_count, loop_ms,
                    core.profile.get("loop_limit_s"), core.ev.get("error", "NO_ERROR"))
        if secc.records:
            r = secc.records[-1]
            return (r["stop_requested"], r["ended"], r["current_demand_loops"], 0, None, "NO_ERROR")
        return ("", "", 0, 0, None, "NO_ERROR")

    @property
    def status_protocol(self):
        secc = self.power.secc
        c = secc.conn
        proto = c.proto if c is not None else (secc.records[-1]["protocol"] if secc.records else None)
        return _PROTOCOL.get(proto or "", box.Protocol_None)

    @property
    def status_connector(self):
        return _CONNECTOR.get(getattr(self.power, "connector", None) or "", box.Connector_None)

    @property
    def renewal(self):
        return self.power._renewal

    @property
    def renewal_pending(self):
        """A renewal is planned and allowed (count, user, no fault): see CcsDischarge._renew."""
        p = self.power
        return p._renew_pending and p.want_power and p.renewals < p.renew_max and not p.safety.sup.faults

    @property
    def ev_max_dis_a(self):
        return max(0.0, self.port.veh_max_i)

    @property
    def ev_min_dis_v(self):
        return max(0.0, self.port.veh_min_v)

    @property
    def ev_max_v(self):
        return max(0.0, self.port.veh_max_v)


# The box is done (contactors open, link < 60 V) and the car has said nothing for this
# long: it left without SessionStop. Below the session's DcLinkDischarge timeout (10 s,
# firmware/charging/table.py), which would otherwise fail a finished session while the
# SECC still waits out V2G_SECC_Sequence_Timeout (60 s); the car's own timeouts in
# WeldingDetection / SessionStop are 2 s (sheet §6 rows 12-13), so it gave up long before. (team)
CAR_SILENT_AFTER_STOP_MS = const(5000)

# The car left the V2G session on its own (SECC end reason, by prefix): an
# ordinary car-side end, stopped in order (STOP_VEHICLE_ABORT), never a failure.
CAR_LEFT = (
    "connection closed",            # FIN / RST / TCP timeout from the car (transport.py "closed" reasons)
    "sequence timeout",             # the car stopped answering: V2G_SECC_Sequence_Timeout (sheet §6)
    "no supportedAppProtocolReq",   # connected, then never spoke
    "inlet lost",                   # the car opened its contactors under load (CcsDischarge._inlet_watch)
)


def end_kind(why, delivery_stopped=False):
    """The port's stop kind of a V2G session end: STOP_NORMAL when the car ended it in
    order (SessionStop, or its PowerDelivery stop came first), STOP_VEHICLE_ABORT when the
    car left (CAR_LEFT), else STOP_PROTOCOL (FAILED answers, decode / encode errors)."""
    if why == "session stop" or delivery_stopped:
        return P.STOP_NORMAL
    for prefix in CAR_LEFT:
        if why.startswith(prefix):
            return P.STOP_VEHICLE_ABORT
    return P.STOP_PROTOCOL


_KIND_NAMES = ("none", "in order", "protocol failure", "vehicle fault", "box refused", "car left")


class CcsDischarge:
    def __init__(self, hal, service_node, transport, cfg=None, reset_cause=0):
        self.port = port = ChargingPort()
        self.safety = s = SafetyApp(hal, reset_cause, port=port)     # starts the watchdog
        self.verbs = CcsPortVerbs(port)
        c = cfg or {}
        self.link = None
        self.link_log = []              # (now, event tuple): pilot states, SLAC events
        if transport is None:
            plc = getattr(hal, "plc", None)
            if plc is None:
                raise ValueError("CCS needs a V2G transport or the modem frame link (hal.plc)")
            mac = c.get("link_mac", LINK_MAC)
            if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6 or mac[0] & 1:
                raise ValueError("link_mac must be a 6-byte unicast MAC")
            self.link = CcsLink(plc, bytes(mac), c.get("rng") or _urandom, tcp_port=c.get("tcp_port"),
                                auto_slac=False)
            transport = self.link.transport
            self.pilot = self.link.cp
        else:
            self.pilot = ControlPilot()
        self.secc = Secc(transport, self.verbs, cfg)
        # before the DC path closes the EVCC's 2 s message timeouts rule (limits.py)
        s.sup.link_open_timeout_ms = L.VEHICLE_LINK_V2G_OPEN_TIMEOUT_MS
        self.ps = PowerStageLink(hal.can["internal"], s.sup, s.m, s.session, s.config)
        self.status = Status(s, _CarView(port, self), self.ps)
        self.status.register(service_node)
        self._open = False
        self.active = False             # a box session owns the pilot (start .. protocol released)
        self.v2g_done = False           # the V2G session of this box session has ended
        self._n_rec = 0
        self.sessions = 0
        self.log = []                   # (now, text)
        self.sup_status = 0
        cfg = cfg or {}
        self.renew_max = cfg.get("renew_max", RENEW_MAX)
        self.renew_min_interval_ms = cfg.get("renew_min_interval_ms", RENEW_MIN_INTERVAL_MS)
        self.renew_pilot = cfg.get("renew_pilot", "ef")
        self.connector = cfg.get("connector")   # "ccs1" / "ccs2" / "nacs": the inlet this box has (status)
        self.want_power = False         # the user started and has not stopped
        self.renewals = 0               # on this plug-in
        self._renew_pending = False
        self._renewal = False           # the running session is a renewal
        self._last_renew = None
        # a car that leaves mid-session (module docstring)
        self.renew_on_abort = cfg.get("renew_on_abort", True)
        if self.renew_on_abort is not True and self.renew_on_abort is not False:
            raise ValueError("cfg renew_on_abort must be true or false, not %r" % (self.renew_on_abort,))
        self._veh_clear = False         # the car's values go once the session no longer asks for current
        self._v_loop = 0.0              # highest inlet voltage in this Supplying (the car's pack)
        self.end_kinds = []             # (session, SECC end reason, port stop kind) per V2G session
        self._ac_on = False
        self._ac_off_at = None
        self._gap_open = False
        self.gaps_ms = []               # AC output gaps across renewals
        self._lev = []

    def _link_events(self, evs, now):
        link = self.link
        log = self.link_log
        for e in evs:
            if (link is not None and e[0] == "pilot" and self.active and e[1] in (CP.A, CP.E, CP.F)
                    and e[2] in _PLUGGED):
                link.start_slac(now)    # the car plugged in while the session waits: 5 % now
                log.append((now, ("slac", "start")))
            log.append((now, e))
            if len(log) > LINK_LOG_MAX:
                log.pop(0)

    # ------------------------------------------------------------ edges
    def pilot_sample(self, high_mv, low_mv, now):
        if self.safety.sup.cmd.cp_state_f and not self.pilot.state_f:
            return                      # the supervisor drives F (trip): nothing to read
        self.pilot.sample(high_mv, low_mv, now)

    # ------------------------------------------------------------ control task
    def control(self, now):
        s = self.safety
        port = self.port
        pilot = self.pilot
        link = self.link
        pilot.handle_timer(now)
        evs = pilot.events()
        if link is not None and evs:
            self._link_events(link.on_pilot(evs, now), now)
        s.session.set_plugged(pilot.state == CP.B or pilot.state == CP.C or pilot.state == CP.D)
        if port.take_start():
            self._begin(now)
        if port.take_stop():
            if self.active and not self.v2g_done and self.secc.conn is None:
                self._no_session(now)   # stopped before the car opened a V2G session
            elif not self.verbs.delivery_stopped:
                self.secc.stop("box")   # EVSE_Shutdown (not when the car itself ended the loop)
        if self.active:
            self.secc.step(now)         # polls the transport: IP to the stack, SLAC frames to SLAC
            self._from_secc(now)
        elif link is not None:
            link.drain()                # no box session: nothing on the link is for us
        if link is not None:
            out = self._lev
            link.service(now, out)
            if out:
                self._link_events(out, now)
                self._lev = []
        port.fill(s.m)
        acts = s.tick(now)
        st = s.sup.status
        port.update(now, st, s.sup, s.m, s.session.state, acts, False)
        self.verbs.observe(now)
        self._inlet_watch(now, s.m, s.session.state)
        self._lines(now)
        self._renew(now, s.session.state)
        self._ac_gap(now, s.sup.cmd.ac_relay)
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
        if self._renewal and self.renew_pilot == "ef":
            self.pilot.ef_step(now)
        if self.link is not None and self.pilot.state in _PLUGGED:
            self.link.start_slac(now)   # a fresh NMK: a new AVLN for every session
            self._link_events((("slac", "start"),), now)
        self.port.finished(False)
        self.log.append((now, "session %d: pilot %s, SECC waiting for the car" % (
            self.sessions, "F then 5 %" if self._renewal and self.renew_pilot == "ef" else "5 %")))

    def _no_session(self, now):
        """The box session ends with no V2G session (user stop in Handshake, before
        the car connected): the pilot lets go as after a SessionStop (retain,
        then X1) so the port is released and a new start works; SLAC stops."""
        self.v2g_done = True
        self._renew_pending = False
        self.pilot.session_stop(now)
        if self.link is not None:
            self.link.slac.stop(now)
        self.log.append((now, "session %d stopped before the car opened a V2G session" % self.sessions))

    def _core(self):
        c = self.secc.conn
        return c.core if c is not None else None

    def _from_secc(self, now):
        port = self.port
        v = self.verbs
        core = self._core()
        if self._veh_clear and not self.safety.session.intent & sv.I_CURRENT:
            self._veh_clear = False     # the stop has taken the session out of the current-carrying states
            port.vehicle(-1, -1.0, -1.0, False)
        if core is not None:
            if core.last_res_at is not None:
                port.alive(core.last_res_at)
            ev = core.ev
            soc = ev.get("soc")
            vmax = ev.get("max_v")
            port.vehicle(soc if soc is not None else -1, vmax if vmax else -1.0, -1.0, v.car_closed)
        if core is not None and not core.ended and core.last_res_at is not None and \
                self.safety.session.state == T.DC_LINK_DISCHARGE and self.sup_status & sv.S_DISCHARGED and \
                now - core.last_res_at >= CAR_SILENT_AFTER_STOP_MS:
            self.log.append((now, "car silent for %d ms after the energy transfer: session ended" % (
                now - core.last_res_at)))
            self.secc.end("sequence timeout (car silent after the energy transfer)", now)
            core = None
        if v.stop_wanted and port.stop_kind == P.STOP_NONE:
            why = core.end_reason if core is not None else ""
            if not why and self.secc.records:
                why = self.secc.records[-1]["ended"]
            kind = end_kind(why, v.delivery_stopped)
            port.stop(kind)
            self.end_kinds.append((self.sessions, why, kind))
            self.log.append((now, "SECC ended: %s (%s)" % (why, _KIND_NAMES[kind])))
        if not self.v2g_done and self.secc.conn is None and len(self.secc.records) > self._n_rec:
            self.v2g_done = True
            self.pilot.session_stop(now)
            self._veh_clear = True      # not now: the supervisor may still see current flowing this tick
            rec = self.secc.records[-1]
            # the car left (with or without its PowerDelivery stop first), not a protocol failure
            car_left = rec["ended"] != "session stop" and end_kind(rec["ended"]) == P.STOP_VEHICLE_ABORT
            why = ""
            if not self.want_power:
                why = "the user stopped"
            elif rec["stop_requested"] or (rec["ended"] != "session stop" and not (car_left and self.renew_on_abort)):
                why = "ended %s (box asked: %s)" % (rec["ended"], rec["stop_requested"] or "no")
            elif not rec["current_demand_loops"]:
                why = "no energy transfer"
            elif self.safety.sup.faults:
                why = "faults 0x%x" % self.safety.sup.faults
            self._renew_pending = not why
            self.log.append((now, "V2G session %d over after %d loops: %s" % (
                self.sessions, rec["current_demand_loops"], "renewal planned" if not why else "no renewal, " + why)))

    def _inlet_watch(self, now, m, state):
        """The car opened its contactors under load: in Supplying with the box contactors
        closed, the inlet current collapses (below I_BREAK_MAX_A) while the inlet voltage
        falls more than V_MATCH_MAX_V below the highest it had in this loop. A pack on the
        inlet cannot do that (at no current it rests at or above its loaded voltage): the
        pack is gone, a vehicle-side stop (EVSE_Shutdown to the car if it still talks)."""
        if state != T.SUPPLYING or not self.port.closed:
            self._v_loop = 0.0
            return
        v = m.v_inlet
        if v > self._v_loop:
            self._v_loop = v
        if m.i_dc < L.I_BREAK_MAX_A and v < self._v_loop - L.V_MATCH_MAX_V and \
                self.port.stop_kind == P.STOP_NONE:
            self.log.append((now, "inlet lost under load: %.0f V after %.0f V at %.1f A, vehicle-side stop" % (
                v, self._v_loop, m.i_dc)))
            self.end_kinds.append((self.sessions, "inlet lost", P.STOP_VEHICLE_ABORT))
            self.secc.stop("inlet-lost")
            self.port.stop(P.STOP_VEHICLE_ABORT)

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

    def _renew(self, now, state):
        if state == T.IDLE:             # unplugged: the next plug-in starts afresh
            self.renewals = 0
            self._renew_pending = False
        if not self._renew_pending or state != T.READY_TO_UNPLUG or self.active:
            return
        if not self.want_power or self.safety.sup.faults:
            self._renew_pending = False
            return
        if self.renewals >= self.renew_max:
            self._renew_pending = False
            self.log.append((now, "renewal limit (%d) reached: the session stays ended" % self.renew_max))
            return
        if self._last_renew is not None and now - self._last_renew < self.renew_min_interval_ms:
            return                      # rate limit: wait
        self._renew_pending = False
        self.renewals += 1
        self._last_renew = now
        self._renewal = True
        self._gap_open = True
        self.log.append((now, "renewal %d of %d: new session on the same plug-in" % (self.renewals, self.renew_max)))
        self.safety.session.post(T.EV_START)

    def _ac_gap(self, now, ac):
        if ac and not self._ac_on:
            if self._gap_open and self._ac_off_at is not None:
                self.gaps_ms.append(now - self._ac_off_at)
                self.log.append((now, "renewal %d: AC output back after %d ms" % (self.renewals, now - self._ac_off_at)))
            self._gap_open = False
        elif not ac and self._ac_on:
            self._ac_off_at = now
        self._ac_on = bool(ac)

    # ------------------------------------------------------------ user / board glue
    @property
    def state(self):
        return self.safety.session.state

    @property
    def fault_active(self):
        return bool(self.sup_status & sv.S_FAULT)

    def start(self):
        self.want_power = True
        self._renewal = False
        self.safety.session.post(T.EV_START)

    def stop(self):
        self.want_power = False
        self._renew_pending = False
        self.safety.session.post(T.EV_STOP)

    def clear_faults(self):
        """The user acknowledges a fault (ToolCommand ClearFaults): the supervisor clears what may be cleared."""
        self.safety.session.reset()

    def estop_irq(self, now):
        """ESTOP falling edge: the supervisor trips and drives the pilot to F."""
        self.safety.estop_irq(now)
        self.port.drop(P.L_CP_PWM)      # status only: the pin is the supervisor's
