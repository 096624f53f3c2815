"""Protocol adapter: the CHAdeMO charger core <-> the session and the real
safety supervisor. Sans-IO (pins through the HAL's role table only).

The core asks, the safety side decides (firmware/protocols/chademo/charger.py):
  d1, lock    signal-line outputs, granted once driven (lock: LOCK_FB agrees)
  d2          lets the car close its contactors: driven only with the inlet
              below 20 V and no trip/lockout latched; dropped at once on a trip
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
from firmware.hal import pins
from firmware.safety import faults as fl
from firmware.safety import supervisor as sv
from firmware.charging import table as T

D2_MAX_INLET_V = const(20)      # chademo-can.md s6 #7: d2 only with (about) 0 V on the inlet

# the box's StopReason on the service CAN from the core's end reason
_ACTIVE = (T.HANDSHAKE, T.ISOLATION_CHECK, T.PRECHARGE, T.CONTACTORS_CLOSED,
           T.POWER_STAGE_START, T.SUPPLYING)


def _pin(hal, table, role):
    return (hal.gpio[role], table[role][1])


def _write(pair, on):
    pair[0].value((1 if on else 0) if pair[1] else (0 if on else 1))


def _read(pair):
    lvl = pair[0].value()
    return lvl == 1 if pair[1] else lvl == 0


class ChademoGlue:
    def __init__(self, hal, core, link, safety):
        self.core = core
        self.link = link
        self.safety = safety
        self.m = safety.m
        self.sup = safety.sup
        self.session = safety.session
        self._d1 = _pin(hal, pins.GPIO_OUT, "CHADEMO_D1")
        self._d2 = _pin(hal, pins.GPIO_OUT, "CHADEMO_D2")
        self._lock = _pin(hal, pins.GPIO_OUT, "LOCK_MOTOR")
        self._lock_fb = _pin(hal, pins.GPIO_IN, "LOCK_FB")
        self._k = _pin(hal, pins.GPIO_IN, "CHADEMO_K")
        self._prox = _pin(hal, pins.GPIO_IN, "CHADEMO_PROX")
        self.d1 = 0
        self.d2 = 0
        self.lock = 0
        self.plugged = False
        self.hs_posted = False
        self.stop_sent = False      # the session asked the core to stop
        self.core_ended = False     # the core ended on its own (posted once)
        self._rx102 = 0
        self._core_state = core.state
        for p in (self._d1, self._d2, self._lock):
            _write(p, 0)

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
        # d1
        if ok[ch.A_D1] != req[ch.A_D1]:
            self.d1 = req[ch.A_D1]
            core.grant(ch.A_D1, self.d1)
        # lock: granted once the feedback agrees
        self.lock = req[ch.A_LOCK]
        if ok[ch.A_LOCK] != req[ch.A_LOCK] and _read(self._lock_fb) == bool(self.lock):
            core.grant(ch.A_LOCK, self.lock)
        # d2: owned by the safety side
        want = req[ch.A_D2]
        if not want:
            self.d2 = 0
            if ok[ch.A_D2] != 0:
                core.grant(ch.A_D2, 0)
        elif ok[ch.A_D2] != want:
            if tripped:
                core.deny(ch.A_D2, want)
            elif self.d1 and self.m.v_inlet < D2_MAX_INLET_V:
                self.d2 = 1
                core.grant(ch.A_D2, want)
        if tripped:
            self.d2 = 0     # the car opens its contactors (ours are already open)
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
        _write(self._d1, self.d1)
        _write(self._d2, self.d2)
        _write(self._lock, self.lock)
        # the core ending on its own -> session
        st = core.state
        if st != self._core_state:
            self._core_state = st
            if (st == ch.S_STOPPING or st == ch.S_ENDING or st == ch.S_FAULT) and not self.stop_sent \
                    and not self.core_ended and sess.state in _ACTIVE:
                self.core_ended = True
                sess.post(T.EV_HANDSHAKE_FAIL if core.fault else T.EV_VEHICLE_STOP)

    def drop_d2(self):
        """Interrupt path (E-stop): the car's contactor permission goes now."""
        self.d2 = 0
        _write(self._d2, 0)
