"""CHAdeMO behind the charging port (firmware.charging.port). Sans-IO, in the
style of aioquic: the protocol is driven by exactly three sources and its
output is pulled.

    a = ChademoAdapter(core, port)
    a.receive((frame_id, data), now)    a vehicle CAN frame (bytes)
    a.handle_timer(now)                 when now >= a.next_timer()
    for fid, data in a.to_send(now):    frames for the vehicle CAN
        ...
    a.set_bus_state(state)              the controller's bus state (edge)

Inside, a CanNode on an in-memory wire decodes/encodes with the tables
generated from dbc/chademo.dbc, supervises the car's cyclic frames (DBC
timeouts) and schedules 0x108/0x109/0x208/0x209; ChademoCharger (charger.py)
is the machine. The edge that owns the real CAN port is link.py.

Port mapping: the core's requests go to the port at the end of every
`handle_timer`; the port's status comes back through `handle_port(now)`,
which the app calls after the safety step. `set_signals(plugged, k)` takes the
inlet's signal inputs (the edge reads the pins).
    core request        port request                  granted on (port status)
    d1, d2, lock        lines(L_D1|L_D2|L_LOCK)      port.granted
    insulation test     cable_check(EV max V + 50)    iso == ISO_VALID (deny: ISO_FAULT)
    precharge V         precharge(V)                  precharged
    box contactors      contactors(close)             closed / opened
    discharge limit     limits(A, A * EV max V)       (no grant needed)
    bleed               (the session bleeds the link in WeldingCheck/DcLinkDischarge)
    core ends itself    stop(kind, reason)            -
    core idle, no line  finished(True)                -
Session commands: take_start() -> core.start(), take_stop() -> core.stop().
"""
from micropython import const

from firmware.can.gen import chademo
from firmware.can.node import CanNode
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.core.ring import Ring
from firmware.hal.interface import CAN_BUS_OFF, CAN_ERROR_ACTIVE
from firmware.protocols.chademo import charger as ch

_EVENTS = const(16)
STEP_MS = const(10)       # the machine's tick while a session runs (chademo-can.md s1: 100 ms frames)
_CABLE_CHECK_MARGIN_V = const(50)   # IEC 61851-23 test voltage EVmax + 50 V (ccs-nacs s6 row 7)
# session states in which the car's data reach the supervisor
_SESSION = (T.HANDSHAKE, T.ISOLATION_CHECK, T.PRECHARGE, T.CONTACTORS_CLOSED, T.POWER_STAGE_START,
            T.SUPPLYING, T.STOPPING)


class _Wire:
    """In-memory CAN port for the CanNode inside the adapter: frames in from
    `receive`, frames out through `to_send`; the bus state is the edge's."""

    def __init__(self):
        self.rx = []
        self.tx = []
        self.bus = CAN_ERROR_ACTIVE
        self.restart_req = False

    def send(self, can_id, data, extended=False):
        if self.bus == CAN_BUS_OFF:
            return False
        self.tx.append((can_id, bytes(data)))
        return True

    def recv(self):
        if not self.rx:
            return None
        return self.rx.pop(0)

    def state(self):
        return self.bus

    def restart(self):
        self.restart_req = True


class ChademoAdapter:
    def __init__(self, core, port=None):
        self.core = core
        # without a port (the protocol rigs drive grants themselves) the
        # requests land on a port nobody reads
        self.port = port if port is not None else P.ChargingPort()
        self.wire = _Wire()
        self.events = Ring(_EVENTS)
        self.node = n = CanNode(self.wire, events=self.events)
        h = core.on_frame
        n.on_rx(chademo.ID_VehicleChargeLimits, chademo, h)
        n.on_rx(chademo.ID_VehicleChargingTime, chademo, h)
        n.on_rx(chademo.ID_VehicleStatus, chademo, h)
        n.on_rx(chademo.ID_VehicleDischargeLimits, chademo, h)
        n.on_rx(chademo.ID_VehicleExtendedFunctions, chademo, h, supervise=False)
        n.on_rx(chademo.ID_VehicleDischargeInfo, chademo, h, supervise=False)
        for fid, fill, after in ((chademo.ID_ChargerCapabilities, core.fill_capabilities, None),
                                 (chademo.ID_ChargerStatus, core.fill_status, chademo.ID_ChargerCapabilities),
                                 (chademo.ID_ChargerDischargeStatus, core.fill_discharge_status,
                                  chademo.ID_ChargerStatus),
                                 (chademo.ID_ChargerDischargeInfo, core.fill_discharge_info,
                                  chademo.ID_ChargerDischargeStatus)):
            v = {}
            fill(0, v)
            n.add_tx(fid, chademo, v, fill=fill, after=after, enabled=False)
        self._session = core.session
        self._main = False
        self._dis = False
        self._t_main = 0
        self._period = chademo.CYCLE_MS[chademo.ID_ChargerStatus]
        self._next = 0
        self._rx102 = 0
        self._core_state = core.state
        self._stop_sent = False

    # ------------------------------------------------------------ sans-IO entry points
    def receive(self, frame, now):
        """One vehicle CAN frame: (frame_id, data bytes[, extended])."""
        self.wire.rx.append((frame[0], frame[1], frame[2] if len(frame) > 2 else False))

    def set_bus_state(self, state):
        self.wire.bus = state

    def handle_timer(self, now):
        """Decode what arrived, supervise, step the machine, schedule TX."""
        core = self.core
        node = self.node
        node.poll(now)
        ev = self.events
        while len(ev):
            kind, value = ev.get()
            core.can_event(kind, value)
        core.step(now)
        if core.session != self._session:
            self._session = core.session
            node.unsupervise()
        m = core.tx_main
        if m != self._main:
            self._main = m
            self._t_main = now
            node.set_tx_enabled(chademo.ID_ChargerCapabilities, m, now)
            node.set_tx_enabled(chademo.ID_ChargerStatus, m, now)
        d = core.tx_discharge
        if d != self._dis:
            self._dis = d
            # join the 0x108/0x109 slot (this pass's slot has gone): the first 0x208
            # follows the first 0x109 that carries the discharge flag
            p = self._period
            due = self._t_main + ((now - self._t_main) // p + 1) * p if m else now
            node.set_tx_enabled(chademo.ID_ChargerDischargeStatus, d, due)
            node.set_tx_enabled(chademo.ID_ChargerDischargeInfo, d, due)
        self._requests(now)
        self._next = now + STEP_MS

    def to_send(self, now):
        """Frames due on the vehicle CAN, in order (drained)."""
        out = self.wire.tx
        if not out:
            return ()
        self.wire.tx = []
        return out

    def next_timer(self):
        return self._next

    # ------------------------------------------------------------ the charging port
    def set_signals(self, plugged, permission):
        """The inlet's signal inputs, read by the edge: proximity and the car's
        charge permission (k/j). Permission counts only while d1 is driven."""
        self.core.set_plug(plugged)
        self.core.set_permission(bool(permission and self.port.granted & P.L_D1))

    def _requests(self, now):
        """After the machine's step: vehicle data and the core's requests to the port."""
        core = self.core
        port = self.port
        n = self.node.rx_count(chademo.ID_VehicleStatus)
        if n != self._rx102:
            self._rx102 = n
            port.alive(now)
        status = core.seen(ch.SEEN_102)
        dis = core.seen(ch.SEEN_200)
        if port.state in _SESSION:
            port.vehicle(core.soc() if status else -1,
                         core.ev_max_v if core.seen(ch.SEEN_100) else -1.0,
                         core.min_discharge_v() if dis else -1.0,
                         status and not core.ev_contactor_open)
        else:
            # between sessions the car's numbers are not the box's business
            port.vehicle(-1, port.veh_max_v, port.veh_min_v, status and not core.ev_contactor_open)
        a = core.req[ch.RQ_DISCHARGE_LIMIT]
        if a > 0:
            port.limits(a, a * (core.ev_max_v if core.ev_max_v > 0 else 500))
        else:
            port.limits(0.0 if dis else -1.0, 0.0 if dis else -1.0)
        req = core.req
        port.precharge(req[ch.RQ_PRECHARGE])
        port.contactors(req[ch.RQ_BOX_CONTACTORS])
        if req[ch.RQ_INSULATION_TEST]:
            # the car's maximum is known here (0x100 checked in CheckCompatibility)
            port.cable_check(core.ev_max_v + _CABLE_CHECK_MARGIN_V)
        else:
            port.cable_check(0)
        lines = 0
        if req[ch.RQ_D1]:
            lines |= P.L_D1
        if req[ch.RQ_D2]:
            lines |= P.L_D2
        if req[ch.RQ_LOCK]:
            lines |= P.L_LOCK
        port.lines(lines)

    def handle_port(self, now):
        """After the safety step: the session's commands to the core, the
        port's status back as grants/denials, the core's own end to the port."""
        core = self.core
        port = self.port
        if port.take_start():
            self._stop_sent = False
            if core.state == ch.ST_FAULT:
                core.reset()
            core.start()
        if port.take_stop():
            self._stop_sent = True
            core.stop()
        core.measure(port.v_present, port.i_present if port.i_present > 0 else 0)
        req = core.req
        ok = core.ok
        g = port.granted
        for kind, bit in ((ch.RQ_D1, P.L_D1), (ch.RQ_D2, P.L_D2), (ch.RQ_LOCK, P.L_LOCK)):
            want = req[kind]
            have = 1 if g & bit else 0
            if ok[kind] != want and have == want:
                core.grant(kind, want)
        if req[ch.RQ_D2] and ok[ch.RQ_D2] != 1 and port.tripped:
            core.deny(ch.RQ_D2, 1)
        if req[ch.RQ_INSULATION_TEST]:
            if ok[ch.RQ_INSULATION_TEST] != 1:
                if port.iso == P.ISO_VALID:
                    core.grant(ch.RQ_INSULATION_TEST, 1)
                elif port.iso == P.ISO_FAULT:
                    core.deny(ch.RQ_INSULATION_TEST, 1)
        elif ok[ch.RQ_INSULATION_TEST] != 0 and port.state != T.ISOLATION_CHECK:
            core.grant(ch.RQ_INSULATION_TEST, 0)
        pv = req[ch.RQ_PRECHARGE]
        if ok[ch.RQ_PRECHARGE] != pv and (pv == 0 or port.precharged):
            core.grant(ch.RQ_PRECHARGE, pv)
        bc = req[ch.RQ_BOX_CONTACTORS]
        if ok[ch.RQ_BOX_CONTACTORS] != bc and ((bc and port.closed) or (not bc and port.opened)):
            core.grant(ch.RQ_BOX_CONTACTORS, bc)
        for kind in (ch.RQ_DISCHARGE_LIMIT, ch.RQ_BLEED):
            if ok[kind] != req[kind]:
                core.grant(kind, req[kind])
        st = core.state
        if st != self._core_state:
            self._core_state = st
            if st in (ch.ST_STOPPING, ch.ST_ENDING, ch.ST_FAULT) and not self._stop_sent:
                port.stop(stop_kind(core), core.reason)
        port.finished((st == ch.ST_IDLE or st == ch.ST_FAULT) and core.safe() and not req[ch.RQ_LOCK])


def stop_kind(core):
    """The meaning of the core's end reason for the session."""
    r = core.reason
    if not core.fault:
        return P.STOP_NORMAL
    if r >= ch.END_BOX_FAULT:
        return P.STOP_BOX_REFUSED
    if r == ch.END_EV_FAULT or r == ch.END_EV_SYSTEM_FAULT or r == ch.END_EV_CONTACTORS_WELDED \
            or r == ch.END_EV_CONTACTOR_STATE or r == ch.END_EV_CONTACTORS_OPENED:
        return P.STOP_VEHICLE_FAULT
    return P.STOP_PROTOCOL
