"""The charging port: what a charging protocol may ask of the box, and what it
hears back. Protocol-neutral (CHAdeMO today; DIN SPEC 70121, ISO 15118-2 and
-20 next), in the spirit of EVerest's `powersupply_DC` / `isolation_monitor`
interfaces. Sans-IO: plain data and rules, no pins, no clock of its own.

Who holds what
    protocol adapter  firmware/protocols/<p>/adapter.py: speaks to the car
                      (sans-IO core), writes *requests* here, reads *status*
    ChargingPort      this module: the requests and the status, and the rules
                      that turn requests into session events and supervisor
                      inputs (Meas.veh_*)
    Session           firmware/charging/engine.py + table.py: the one
                      lifecycle; owns the port (`Session.port`)
    Supervisor        firmware/safety: decides every output; a request is a
                      wish, never a command

Order per control tick (firmware/app runs it):
    1. adapter: frames/messages in, timers  -> port requests (methods below)
    2. port.fill(m)                          -> vehicle fields of Meas
    3. supervisor.step, session.step         (the session takes the port's
                                              edge events and levels)
    4. port.update(now, status, sup, m, state, acts, lock_fb) -> status fields
    5. adapter: take_start()/take_stop(), read the status, answer the car

Requests (protocol -> box). Units: V, A, W; -1 = unknown/not given.
    vehicle(soc, v_max, v_min, closed)
                      the car's data as the protocol knows them now (DIN
                      ChargeParameterDiscovery / CurrentDemand; CHAdeMO
                      0x100/0x102/0x200); `closed`: the car reports its own
                      contactors closed.
    alive(now)        a valid message from the car arrived (link freshness).
    cable_check(v)    v > 0: the car is ready, run the cable (insulation)
                      check at v volts (CCS: [V2G-DC-418] CableCheckReq; the
                      IEC 61851-23 test voltage min(500, EVmax + 50) is the
                      supervisor's rule and wins); 0: the check may end.
                      The first v > 0 also ends the handshake (Handshake ->
                      IsolationCheck).
    precharge(v)      v > 0: precharge the DC link to v volts (CCS PreCharge
                      EVTargetVoltage; CHAdeMO: the battery voltage measured
                      at the inlet with the car's contactors closed). 0: off.
                      Without a request the precharge source stays off: the
                      target never falls back to a measured voltage.
    contactors(close) True: close the box contactors once precharged (CCS
                      PowerDeliveryReq start; CHAdeMO after the match);
                      False: the protocol wants them open (ends supplying).
    limits(i, p)      the car's discharge current and power limits.
    lines(mask, duty_pm)
                      the signal lines the protocol needs: L_D1, L_D2, L_LOCK
                      (CHAdeMO), L_CP_PWM, L_CP_F (CCS control pilot; duty in
                      permille, 50 = 5 %). The same bits are the supervisor's
                      requests (supervisor.P_*): SafetyApp passes them on every
                      tick, the supervisor decides Cmd.d1/d2/lock/cp_*, and the
                      driven lines come back in `granted`.
    stop(kind, code)  the protocol ends the session: STOP_NORMAL (the car or
                      the protocol ended it in order), STOP_PROTOCOL (timeout,
                      sequence or communication error), STOP_VEHICLE_FAULT
                      (the car reported a fault), STOP_BOX_REFUSED (the box
                      refused a request), STOP_VEHICLE_ABORT (the car left on
                      its own: closed or reset the connection, stopped
                      answering, opened its contactors under load: an ordinary
                      car-side end, stopped like STOP_NORMAL, not a failure). `code` is the protocol's own reason
                      (CHAdeMO R_*, DIN ResponseCode...), kept for the status
                      frames and the logs.
    finished(done)    True when the protocol has let go of the car: no line
                      requested, lock open, its machine idle (or faulted).
                      The session reaches ReadyToUnplug and takes a new start
                      only then.

Commands (box -> protocol), each taken once:
    take_start()      the session began (user start): start the handshake
    take_stop()       the session stops: tell the car (CHAdeMO stop control,
                      DIN EVSE_Shutdown / ResponseCode FAILED on a fault)

Status (box -> protocol), refreshed by `update` every tick:
    state             the session state (firmware.charging.table)
    iso               ISO_UNKNOWN / ISO_VALID / ISO_FAULT (DIN IsolationLevel)
    precharged        inlet and link within V_MATCH_MAX_V, car closed
    closed, opened    box contactors confirmed closed / open (aux contacts)
    tripped           a trip or lockout: everything current-carrying is off
    v_present, i_present  measured inlet voltage and discharge current
    i_available, p_available  what the box takes now (0 outside Supplying);
                      a discharge box offers no *charge* current
    granted           the lines driven now (mask of L_*)
"""
from micropython import const

from firmware.charging import table as T
from firmware.safety import faults as fl
from firmware.safety import supervisor as sv

# ---- lines (bit mask)
L_D1 = const(0x01)        # CHAdeMO charge sequence signal 1 (chademo-can.md s2)
L_D2 = const(0x02)        # CHAdeMO charge sequence signal 2: lets the car close its contactors
L_LOCK = const(0x04)      # connector lock motor
L_CP_PWM = const(0x08)    # CCS control pilot: 1 kHz oscillator on (IEC 61851-1)
L_CP_F = const(0x10)      # CCS control pilot: drive -12 V (state F)

# ---- stop kinds
STOP_NONE = const(0)
STOP_NORMAL = const(1)
STOP_PROTOCOL = const(2)
STOP_VEHICLE_FAULT = const(3)
STOP_BOX_REFUSED = const(4)
STOP_VEHICLE_ABORT = const(5)

# ---- isolation status (DIN 70121 isolationLevelType)
ISO_UNKNOWN = const(0)
ISO_VALID = const(1)
ISO_FAULT = const(2)

D2_MAX_INLET_V = const(20)  # chademo-can.md s6 #7: d2 only with (about) 0 V on the inlet

_STOP_EVENT = (-1, T.EV_VEHICLE_STOP, T.EV_PROTOCOL_FAULT, T.EV_PROTOCOL_FAULT, T.EV_PROTOCOL_FAULT,
               T.EV_VEHICLE_STOP)


class ChargingPort:
    def __init__(self):
        # requests
        self.veh_seen_ms = -1
        self.veh_soc = -1
        self.veh_max_v = -1.0
        self.veh_min_v = -1.0
        self.veh_max_i = -1.0
        self.veh_max_p = -1.0
        self.veh_closed = False
        self.cable_check_v = 0
        self.precharge_v = 0
        self.close = False
        self.want_lines = 0
        self.cp_duty_pm = 0
        self.stop_kind = STOP_NONE
        self.stop_code = 0
        self.done = True
        self._events = []       # edge events for the session (bounded: see _post)
        self._hs = False        # the handshake-done edge was posted this session
        # commands
        self._start = False
        self._stop = False
        # status
        self.state = T.IDLE
        self.iso = ISO_UNKNOWN
        self.precharged = False
        self.closed = False
        self.opened = True
        self.tripped = False
        self.v_present = 0.0
        self.i_present = 0.0
        self.i_available = 0.0
        self.p_available = 0.0
        self.granted = 0

    # ------------------------------------------------------------ requests
    def vehicle(self, soc, v_max, v_min, closed):
        self.veh_soc = soc
        self.veh_max_v = v_max
        self.veh_min_v = v_min
        self.veh_closed = bool(closed)

    def alive(self, now):
        self.veh_seen_ms = now

    def cable_check(self, v):
        self.cable_check_v = v if v > 0 else 0
        if v > 0 and not self._hs:
            self._hs = True
            self._post(T.EV_HANDSHAKE_DONE)

    def precharge(self, v):
        self.precharge_v = v if v > 0 else 0

    def contactors(self, close):
        self.close = bool(close)

    def limits(self, i, p):
        self.veh_max_i = i
        self.veh_max_p = p

    def lines(self, mask, duty_pm=0):
        self.want_lines = mask
        self.cp_duty_pm = duty_pm

    def stop(self, kind, code=0):
        """The protocol ended the session (posted once per session)."""
        if self.stop_kind == STOP_NONE and kind != STOP_NONE:
            self.stop_kind = kind
            self.stop_code = code
            self._post(_STOP_EVENT[kind])

    def finished(self, done):
        self.done = bool(done)

    # ------------------------------------------------------------ commands
    def take_start(self):
        s = self._start
        self._start = False
        return s

    def take_stop(self):
        s = self._stop
        self._stop = False
        return s

    # ------------------------------------------------------------ for the session
    def _post(self, ev):
        if len(self._events) < 4:
            self._events.append(ev)

    def events(self):
        """Edge events for the session, oldest first (drained)."""
        ev = self._events
        if not ev:
            return ()
        out = tuple(ev)
        ev.clear()
        return out

    def released(self):
        """The protocol has let go of the car (lines, lock, machine)."""
        return self.done and not self.want_lines and not self.granted

    def fill(self, m):
        """The car's data into the supervisor's Meas (before its step)."""
        if self.veh_seen_ms >= 0:
            m.veh_seen_ms = self.veh_seen_ms
        m.veh_soc = self.veh_soc
        m.veh_max_v = self.veh_max_v
        m.veh_min_v = self.veh_min_v
        m.veh_max_i = self.veh_max_i
        m.veh_max_p = self.veh_max_p
        m.veh_closed = self.veh_closed
        m.veh_target_v = self.precharge_v if self.precharge_v > 0 else -1.0

    def update(self, now, status, sup, m, state, acts, lock_fb):
        """Status after the supervisor and session steps; the session's actions
        become commands for the protocol. `lock_fb`: the lock's feedback."""
        if acts & T.A_PROTO_START:
            self._start = True
            self._stop = False
            self._hs = False
            self.stop_kind = STOP_NONE
            self.stop_code = 0
            self.close = False
        if acts & T.A_PROTO_STOP:
            self._stop = True
        self.state = state
        if status & sv.S_ISO_OK:
            self.iso = ISO_VALID
        elif sup.faults & (1 << fl.F_ISOLATION):
            self.iso = ISO_FAULT
        elif state != T.ISOLATION_CHECK:
            self.iso = ISO_UNKNOWN
        self.precharged = bool(status & (sv.S_MATCHED | sv.S_CLOSED))
        self.closed = bool(status & sv.S_CLOSED)
        self.opened = bool(status & sv.S_OPEN)
        self.tripped = bool(status & (sv.S_TRIP | sv.S_LOCKOUT))
        self.v_present = m.v_inlet
        self.i_present = m.i_dc
        self.i_available = sup.cmd.i_limit_a
        self.p_available = sup.cmd.p_limit_w
        self._grant_lines(sup.cmd, lock_fb)

    def _grant_lines(self, cmd, lock_fb):
        """Which requested lines are driven: the supervisor's decision (its
        Cmd carries d1/d2/lock and the pilot; it drops them on a trip, on
        E-stop and from the stall monitor). The lock is reported once its
        feedback agrees, and stays reported while the supervisor holds it."""
        g = 0
        if cmd.d1:
            g |= L_D1
        if cmd.d2:
            g |= L_D2
        if cmd.cp_pwm_on:
            g |= L_CP_PWM
        if cmd.cp_state_f and self.want_lines & L_CP_F:
            g |= L_CP_F
        if cmd.lock and lock_fb:
            g |= L_LOCK
        self.granted = g

    def lock_out(self):
        """The lock as asked (the supervisor drives the motor, Cmd.lock)."""
        return 1 if self.want_lines & L_LOCK else 0

    def drop(self, mask):
        """Interrupt path (E-stop): these lines go now."""
        self.granted &= ~mask

