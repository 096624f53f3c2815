"""Protocol adapter: the CHAdeMO charger core <-> the session and the real
safety supervisor. Sans-IO (pins through the HAL's role table only).

The core asks, the safety side decides (firmware/protocols/chademo/charger.py): the
glue passes the core's d1/d2/lock requests to `Supervisor.request()`; the
supervisor owns the pins (Cmd.d1/d2/lock) and the glue only reports back:
  d1, lock    granted once the supervisor drives them (lock: LOCK_FB agrees)
  d2          lets the car close its contactors: the supervisor drives it only
              with the inlet below 20 V and no trip latched, drops it on a trip,
              on E-stop and from the stall monitor
  insulation  the request posts EV_HANDSHAKE_DONE (CableCheck); granted on
              S_ISO_OK, denied on an isolation fault
  precharge   value -> Meas.veh_target_v; granted on S_MATCHED / S_CLOSED
  box contact granted on S_CLOSED (1) / S_OPEN (0); the session closes them
  limit       A_DISCHARGE_LIMIT -> Meas.veh_max_i (the supervisor's input)
  bleed       granted (the session's DC_DISCHARGE intent bleeds the link)
Session actions: A_PROTO_START -> core.start(), A_PROTO_STOP -> core.stop().
The core ending on its own is posted to the session (vehicle stop / fail).
Vehicle data from the CHAdeMO frames go into Meas every tick.
"""
from micropython import const

from firmware.can.gen import chademo
from firmware.protocols.chademo import charger as ch
from firmware.safety import faults as fl
from firmware.safety import supervisor as sv
from firmware.charging import table as T

# the box's StopReason on the service CAN from the core's end reason
_ACTIVE = (T.HANDSHAKE, T.ISOLATION_CHECK, T.PRECHARGE, T.CONTACTORS_CLOSED,
           T.POWER_STAGE_START, T.SUPPLYING)


def _read(pin):
    return pin.value() == 1      # logical level (HAL contract)


class ChademoGlue:
    def __init__(self, hal, core, link, safety):
        self.core = core
        self.link = link
        self.safety = safety
        self.m = safety.m
        self.sup = safety.sup
        self.session = safety.session
        self._lock_fb = hal.gpio["LOCK_FB"]
        self._k = hal.gpio["CHADEMO_K"]
        self._prox = hal.gpio["CHADEMO_PROX"]
        self.plugged = False
        self.hs_posted = False
        self.stop_sent = False      # the session asked the core to stop
        self.core_ended = False     # the core ended on its own (posted once)
        self._rx102 = 0
        self._core_state = core.state

    # what the supervisor drives (read-only views for status and tests)
    @property
    def d1(self):
        return self.sup.cmd.d1

    @property
    def d2(self):
        return self.sup.cmd.d2

    @property
    def lock(self):
        return self.sup.cmd.lock

    # ------------------------------------------------------------ before the supervisor step
    def inputs(self, now):
        """Signal lines and CHAdeMO data into the core, the session and Meas."""
        core = self.core
        m = self.m
        self.plugged = _read(self._prox)
        core.set_plug(self.plugged)
        core.set_permission(_read(self._k) and self.d1)
        self.session.set_plugged(self.plugged)
        node = self.link.node
        n = node.rx_count(chademo.ID_VehicleStatus)
        if n != self._rx102:
            self._rx102 = n
            m.veh_seen_ms = now
        seen = core._seen
        if self.session.state in _ACTIVE or self.session.state == T.STOPPING:
            m.veh_soc = core.soc() if seen & 4 else -1
            m.veh_closed = bool(seen & 4) and not core.ev_contactor_open
            m.veh_max_v = core.ev_max_v if seen & 1 else -1.0
            m.veh_min_v = core.ev_min_dis_v if seen & 8 else -1.0
        else:
            m.veh_soc = -1
            m.veh_closed = not core.ev_contactor_open if seen & 4 else False
        a = core.req[ch.A_DISCHARGE_LIMIT]
        if a > 0:
            m.veh_max_i = a
            m.veh_max_p = a * (core.ev_max_v if core.ev_max_v > 0 else 500)
        else:
            m.veh_max_i = 0.0 if seen & 8 else -1.0
            m.veh_max_p = 0.0 if seen & 8 else -1.0
        pv = core.req[ch.A_PRECHARGE]
        m.veh_target_v = pv if pv > 0 else -1.0
        req = core.req
        self.sup.request((sv.P_D1 if req[ch.A_D1] else 0) | (sv.P_D2 if req[ch.A_D2] else 0)
                         | (sv.P_LOCK if req[ch.A_LOCK] else 0))

    # ------------------------------------------------------------ after the supervisor step
    def outputs(self, now, status, acts):
        core = self.core
        sess = self.session
        if acts & T.A_PROTO_START:
            self.hs_posted = False
            self.stop_sent = False
            self.core_ended = False
            if core.state == ch.S_FAULT:
                core.reset()
            core.start()
        if acts & T.A_PROTO_STOP:
            self.stop_sent = True
            core.stop()
        core.measure(self.m.v_inlet, self.m.i_dc if self.m.i_dc > 0 else 0)
        # the core's requests
        req = core.req
        ok = core.ok
        tripped = status & (sv.S_TRIP | sv.S_LOCKOUT)
        cmd = self.sup.cmd
        # d1: granted as the supervisor drives it
        if ok[ch.A_D1] != req[ch.A_D1] and cmd.d1 == req[ch.A_D1]:
            core.grant(ch.A_D1, req[ch.A_D1])
        # lock: granted once the supervisor drives it and the feedback agrees
        if ok[ch.A_LOCK] != req[ch.A_LOCK] and cmd.lock == req[ch.A_LOCK] \
                and _read(self._lock_fb) == bool(req[ch.A_LOCK]):
            core.grant(ch.A_LOCK, req[ch.A_LOCK])
        # d2: the supervisor decides (dead inlet, no trip)
        want = req[ch.A_D2]
        if not want:
            if ok[ch.A_D2] != 0:
                core.grant(ch.A_D2, 0)
        elif ok[ch.A_D2] != want:
            if tripped:
                core.deny(ch.A_D2, want)
            elif cmd.d2:
                core.grant(ch.A_D2, want)
        # insulation test = the session's CableCheck
        if req[ch.A_INSULATION_TEST]:
            if not self.hs_posted and sess.state == T.HANDSHAKE:
                self.hs_posted = True
                sess.post(T.EV_HANDSHAKE_DONE)
            if ok[ch.A_INSULATION_TEST] != 1:
                if status & sv.S_ISO_OK:
                    core.grant(ch.A_INSULATION_TEST, 1)
                elif self.sup.faults & (1 << fl.F_ISOLATION):
                    core.deny(ch.A_INSULATION_TEST, 1)
        elif ok[ch.A_INSULATION_TEST] != 0 and sess.state != T.ISOLATION_CHECK:
            core.grant(ch.A_INSULATION_TEST, 0)
        # precharge: matched (or already closed)
        pv = req[ch.A_PRECHARGE]
        if ok[ch.A_PRECHARGE] != pv:
            if pv == 0 or status & (sv.S_MATCHED | sv.S_CLOSED):
                core.grant(ch.A_PRECHARGE, pv)
        bc = req[ch.A_BOX_CONTACTORS]
        if ok[ch.A_BOX_CONTACTORS] != bc:
            if (bc and status & sv.S_CLOSED) or (not bc and status & sv.S_OPEN):
                core.grant(ch.A_BOX_CONTACTORS, bc)
        if ok[ch.A_DISCHARGE_LIMIT] != req[ch.A_DISCHARGE_LIMIT]:
            core.grant(ch.A_DISCHARGE_LIMIT, req[ch.A_DISCHARGE_LIMIT])
        if ok[ch.A_BLEED] != req[ch.A_BLEED]:
            core.grant(ch.A_BLEED, req[ch.A_BLEED])
        # drain the outbox: `req` is authoritative, the ring only wakes us
        ob = core.outbox
        while len(ob):
            ob.get()
        # the core ending on its own -> session
        st = core.state
        if st != self._core_state:
            self._core_state = st
            if (st == ch.S_STOPPING or st == ch.S_ENDING or st == ch.S_FAULT) and not self.stop_sent \
                    and not self.core_ended and sess.state in _ACTIVE:
                self.core_ended = True
                sess.post(T.EV_HANDSHAKE_FAIL if core.fault else T.EV_VEHICLE_STOP)

