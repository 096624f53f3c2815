"""Runs the session table. Sans-IO: call `step(now_ms, status, sup)` once per
main-loop tick right after the supervisor's step; read `intent` for the next
supervisor step and the returned action bits for the protocol stack.

Edge events (user, protocol) are queued with `post()`; level events come from
the supervisor's status bits, the plug level and the state timer, checked in
a fixed priority order. The first event that has a row in the table for the
current state fires; one level transition per tick keeps it deterministic.

With a charging port (firmware.charging.port) the session is the one
lifecycle over the protocol as well:
  * the port's edge events (handshake done, the protocol's stop with its
    meaning) are taken at the start of every step;
  * the session ends (DcLinkDischarge -> ReadyToUnplug / Fault) only once the
    protocol has let go of the car (`port.released()`: lines and lock
    released, its machine idle);
  * a start while the protocol is still ending is held (not dropped) and
    fires when it has finished; a stop or an unplug cancels it;
  * the box contactors close after a matched precharge only when the
    protocol asked for them (`port.close`).
Without a port (the safety bench) these guards are open.
"""
from firmware.core.ring import Ring
from firmware.safety import supervisor as sv
from firmware.charging import table as T

# Level events in priority order, with the status bit that raises each
# (0: computed by the engine itself).
_LEVELS = (
    (T.EV_LOCKOUT, sv.S_LOCKOUT),
    (T.EV_TRIP, sv.S_TRIP),
    (T.EV_FAULT, sv.S_FAULT),
    (T.EV_END, sv.S_END),
    (T.EV_UNPLUG, 0),
    (T.EV_PLUG, 0),
    (T.EV_CLEARED, 0),
    (T.EV_ISO_OK, sv.S_ISO_OK),
    (T.EV_PRECHARGE_DONE, sv.S_MATCHED),
    (T.EV_CLOSED, sv.S_CLOSED),
    (T.EV_PS_READY, sv.S_PS_READY),
    (T.EV_CURRENT_LOW, sv.S_CURRENT_LOW),
    (T.EV_OPENED, sv.S_OPEN),
    (T.EV_WELD_OK, sv.S_WELD_OK),
    (T.EV_DISCHARGED_FAULT, 0),
    (T.EV_DISCHARGED, 0),
    (T.EV_TIMEOUT, 0),
)


class Session:
    def __init__(self, now_ms=0, queue=8, port=None):
        self.port = port
        self._start_held = False
        self.state = T.IDLE
        self.entered_ms = now_ms
        self.plugged = False
        self.failed = False        # a session-level failure (timeout, protocol) is pending
        self.fail_state = -1       # where it failed (for the DTC freeze frame)
        self.last_event = -1
        self.transitions = 0
        self._q = Ring(queue)
        self._reset_req = False
        self._service_req = False

    # ---- inputs
    def post(self, event):
        """Queue an edge event (EV_START, EV_STOP, EV_HANDSHAKE_*, EV_VEHICLE_STOP)."""
        return self._q.put(event)

    def set_plugged(self, plugged):
        self.plugged = bool(plugged)

    def reset(self):
        """User acknowledges a fault (clears what may be cleared next step)."""
        self._reset_req = True

    def service_clear(self):
        self._service_req = True

    @property
    def intent(self):
        return T.STATE_INFO[self.state][0]

    # ---- step
    def step(self, now, status, sup):
        acts = 0
        if self._service_req:
            self._service_req = False
            if not sup.service_clear():
                self._q.put(T.EV_SERVICE_CLEAR)
        if self._reset_req:
            self._reset_req = False
            sup.try_clear(now, True, not self.plugged)
            if self.state == T.FAULT:
                self.failed = False
        elif not self.plugged and sup.faults:
            sup.try_clear(now, False, True)
        port = self.port
        free = port is None or port.released()
        if port is not None:
            for ev in port.events():
                acts |= self._fire(now, ev)
        while len(self._q):
            ev = self._q.get()[0]
            if ev == T.EV_START and not free:
                self._start_held = True     # the protocol is still ending: hold it
                continue
            if ev == T.EV_STOP:
                self._start_held = False
            acts |= self._fire(now, ev)
        if self._start_held:
            if not self.plugged:
                self._start_held = False
            elif free:
                self._start_held = False
                acts |= self._fire(now, T.EV_START)
        for ev, bit in _LEVELS:
            if ev == T.EV_PRECHARGE_DONE:
                hit = status & bit and (port is None or port.close)
            elif bit:
                hit = status & bit
            elif ev == T.EV_UNPLUG:
                hit = not self.plugged
            elif ev == T.EV_PLUG:
                hit = self.plugged
            elif ev == T.EV_CLEARED:
                hit = not sup.faults and not self.failed
            elif ev == T.EV_DISCHARGED_FAULT:
                hit = status & sv.S_DISCHARGED and (status & sv.S_FAULT or self.failed) and free
            elif ev == T.EV_DISCHARGED:
                hit = status & sv.S_DISCHARGED and not (status & sv.S_FAULT or self.failed) and free
            else:  # EV_TIMEOUT
                to = T.STATE_INFO[self.state][1]
                hit = to and now - self.entered_ms >= to
            if hit and T.lookup(self.state, ev) is not None:
                acts |= self._fire(now, ev)
                break
        return acts

    def _fire(self, now, ev):
        r = T.lookup(self.state, ev)
        if r is None:
            return 0
        nxt, acts = r
        if acts & T.A_FAIL:
            self.failed = True
            self.fail_state = self.state
        self.last_event = ev
        if nxt != self.state:
            self.state = nxt
            self.entered_ms = now
            self.transitions += 1
            if nxt == T.IDLE:
                self.failed = False
                self.fail_state = -1
        return acts
