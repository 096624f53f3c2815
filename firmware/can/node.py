"""One CAN bus as seen by the firmware: RX dispatch, cyclic TX, receive
timeout supervision, bus-off / error-passive handling.

Sans-IO: the node is given a `CanPort` (firmware.hal.interface contract) and
is driven by `poll(now_ms)` from the scheduler; it never reads a clock and
never imports a HAL backend. Events go into a `firmware.core.ring.Ring`
(`put(kind, frame_id)`) or to a callable `events(kind, value)`.

    node = CanNode(port, events=ring)
    vals = node.on_rx(chademo.ID_VehicleStatus, chademo, handler)   # supervised
    tx = node.add_tx(chademo.ID_ChargerCapabilities, chademo, {...})
    node.add_tx(chademo.ID_ChargerStatus, chademo, {...}, after=chademo.ID_ChargerCapabilities)
    ... every few ms: node.poll(now_ms)

TX ordering: frames due in the same pass go out in registration order, and
a pass stops at the first frame the port refuses (mailboxes full), so a
later frame can never overtake an earlier one of the same cycle (CHAdeMO:
0x108 before 0x109, reference chademo-can.md s1). `after=` declares such a
constraint and is checked at registration. The board backend must keep the
hardware TX queue in FIFO order as well (bxCAN TXFP / machine.CAN ordering);
with CHAdeMO's ids the lower id is also the earlier frame, so ID-priority
arbitration between mailboxes keeps the order too.

Allocation: each RX message decodes into its own dict, reused for every
frame (handlers must copy what they keep); each TX message encodes into its
own bytearray. Floats of scaled signals still allocate on MicroPython.
"""
from micropython import const

from firmware.can import codec
from firmware.hal.interface import CAN_BUS_OFF, CAN_ERROR_PASSIVE

# event kinds (value = frame id, or the CAN state for bus events)
NODE_RX_TIMEOUT = const(0x40)      # a supervised message has not arrived within its timeout
NODE_RX_RESTORED = const(0x41)     # ... and arrived again
NODE_RX_DECODE_ERROR = const(0x42)  # known id, undecodable payload (short, bad multiplexer)
NODE_BUS_OFF = const(0x43)
NODE_BUS_RECOVERED = const(0x44)   # back to error-active/warning after bus-off or error-passive
NODE_ERROR_PASSIVE = const(0x45)
NODE_TX_LATE = const(0x46)         # a cyclic frame missed its slot (loop late or bus congested)

EVENT_NAMES = {
    NODE_RX_TIMEOUT: "rx-timeout", NODE_RX_RESTORED: "rx-restored", NODE_RX_DECODE_ERROR: "rx-decode-error",
    NODE_BUS_OFF: "bus-off", NODE_BUS_RECOVERED: "bus-recovered", NODE_ERROR_PASSIVE: "error-passive",
    NODE_TX_LATE: "tx-late",
}

_RX_BURST = const(32)            # frames handled per poll at most (bounds the loop time)
_RESTART_MIN_MS = const(100)     # first bus-off restart after 100 ms (>> 128 x 11 bit times)
_RESTART_MAX_MS = const(1000)    # repeated bus-offs back off up to 1 s
_RESTART_STABLE_MS = const(5000)  # this long without bus-off resets the back-off



class CanNode:
    def __init__(self, port, events=None, rx_burst=_RX_BURST):
        self.port = port
        self._events = events
        self._rx_burst = rx_burst
        # RX
        self._rx_slot = {}        # frame id -> slot
        self._rx_ids = []
        self._rx_msg = []         # message table (None for raw handlers)
        self._rx_fn = []
        self._rx_vals = []
        self._rx_timeout = []     # ms, 0 = not supervised
        self._rx_last = []        # ms of the last good frame (or supervision start)
        self._rx_lost = []        # currently timed out
        self._rx_count = []
        self.rx_unknown = 0
        self.rx_errors = 0
        self.unknown_handler = None  # fn(frame_id, data, now_ms) for ids nobody registered
        # TX
        self._tx_slot = {}
        self._tx_id = []
        self._tx_msg = []
        self._tx_vals = []
        self._tx_buf = []
        self._tx_period = []
        self._tx_due = []
        self._tx_fill = []
        self._tx_scaling = []
        self._tx_on = []
        self._tx_count = []
        self.tx_late = 0
        self.tx_errors = 0
        # bus state
        self._state = 0
        self._busoff_ms = None
        self._restart_wait = _RESTART_MIN_MS
        self._last_busoff_ms = None
        self.bus_off_count = 0
        self.restarts = 0
        self._started = False
        self._now = 0

    # ------------------------------------------------------------ events
    def _emit(self, kind, value):
        ev = self._events
        if ev is None:
            return
        if callable(ev):
            ev(kind, value)
        else:
            ev.put(kind, value)

    # ------------------------------------------------------------ RX
    def on_rx(self, frame_id, db, handler=None, timeout_ms=None, supervise=True):
        """Decode `frame_id` with generated module `db` and call
        `handler(frame_id, values, now_ms)` (values: a dict reused for every
        frame). Supervised with db.TIMEOUT_MS unless timeout_ms/supervise say
        otherwise; supervision starts at the first frame or at supervise().
        Returns the values dict (latest decoded frame)."""
        msg = db.message(frame_id)
        if timeout_ms is None:
            timeout_ms = db.TIMEOUT_MS.get(frame_id, 0)
        vals = {}
        self._add_rx(frame_id, msg, handler, vals, timeout_ms if supervise else 0)
        return vals

    def on_raw(self, frame_id, handler, timeout_ms=0):
        """`handler(frame_id, data, now_ms)` with the undecoded payload."""
        self._add_rx(frame_id, None, handler, None, timeout_ms)

    def _add_rx(self, frame_id, msg, fn, vals, timeout_ms):
        if frame_id in self._rx_slot:
            raise ValueError("frame 0x%X already has a receiver" % frame_id)
        self._rx_slot[frame_id] = len(self._rx_msg)
        self._rx_ids.append(frame_id)
        self._rx_msg.append(msg)
        self._rx_fn.append(fn)
        self._rx_vals.append(vals)
        self._rx_timeout.append(timeout_ms)
        self._rx_last.append(None)
        self._rx_lost.append(False)
        self._rx_count.append(0)

    def supervise(self, now_ms, frame_id=None, timeout_ms=None):
        """(Re)start receive supervision from now, for one id or all: e.g.
        when the session starts expecting the vehicle's frames."""
        slots = range(len(self._rx_msg)) if frame_id is None else (self._rx_slot[frame_id],)
        for i in slots:
            if timeout_ms is not None:
                self._rx_timeout[i] = timeout_ms
            self._rx_last[i] = now_ms
            self._rx_lost[i] = False

    def unsupervise(self, frame_id=None):
        slots = range(len(self._rx_msg)) if frame_id is None else (self._rx_slot[frame_id],)
        for i in slots:
            self._rx_last[i] = None
            self._rx_lost[i] = False

    def timed_out(self, frame_id):
        return self._rx_lost[self._rx_slot[frame_id]]

    def rx_count(self, frame_id):
        return self._rx_count[self._rx_slot[frame_id]]

    def last_rx_ms(self, frame_id):
        return self._rx_last[self._rx_slot[frame_id]]

    def values(self, frame_id):
        """Latest decoded values of an RX message (the reused dict)."""
        return self._rx_vals[self._rx_slot[frame_id]]

    def _receive(self, now_ms):
        port = self.port
        slots = self._rx_slot
        n = 0
        while n < self._rx_burst:
            fr = port.recv()
            if fr is None:
                break
            n += 1
            fid = fr[0]
            i = slots.get(fid)
            msg = None if i is None else self._rx_msg[i]
            if i is None or (msg is not None and msg[codec.MSG_EXT] != bool(fr[2])):
                self.rx_unknown += 1
                if self.unknown_handler is not None:
                    self.unknown_handler(fid, fr[1], now_ms)
                continue
            if msg is None:
                arg = fr[1]
            else:
                try:
                    arg = codec.decode_into(msg, fr[1], self._rx_vals[i])
                except codec.CodecError:
                    self.rx_errors += 1
                    self._emit(NODE_RX_DECODE_ERROR, fid)
                    continue
            self._rx_count[i] += 1
            self._rx_last[i] = now_ms
            if self._rx_lost[i]:
                self._rx_lost[i] = False
                self._emit(NODE_RX_RESTORED, fid)
            fn = self._rx_fn[i]
            if fn is not None:
                fn(fid, arg, now_ms)
        return n

    def _check_timeouts(self, now_ms):
        last = self._rx_last
        tmo = self._rx_timeout
        lost = self._rx_lost
        for i in range(len(last)):
            t = tmo[i]
            if t and last[i] is not None and not lost[i] and now_ms - last[i] > t:
                lost[i] = True
                self._emit(NODE_RX_TIMEOUT, self._rx_ids[i])

    # ------------------------------------------------------------ TX
    def add_tx(self, frame_id, db, values, period_ms=None, fill=None, after=None,
               enabled=True, phase_ms=0, scaling=True):
        """Send `frame_id` every period (default: the DBC cycle time), encoding
        the dict `values` (returned; update it in place). `fill(now_ms, values)`
        runs just before each encode. `after`: id of a frame that must precede
        this one in every cycle (must be registered first, same period).
        scaling=False: `values` hold raw integers (exact on single-precision
        floats, and no float allocation per frame)."""
        msg = db.message(frame_id)
        if period_ms is None:
            period_ms = db.CYCLE_MS.get(frame_id, 0)
        if period_ms <= 0:
            raise ValueError("frame 0x%X has no cycle time; use send()" % frame_id)
        if frame_id in self._tx_slot:
            raise ValueError("frame 0x%X is already scheduled" % frame_id)
        if after is not None:
            j = self._tx_slot.get(after)
            if j is None:
                raise ValueError("0x%X must be scheduled before 0x%X" % (after, frame_id))
            if self._tx_period[j] != period_ms:
                raise ValueError("0x%X and 0x%X need the same period to keep their order" % (after, frame_id))
            first_due = self._tx_due[j]  # same slot as its predecessor
        else:
            # relative to the first poll, or to the latest poll once running
            first_due = phase_ms + (self._now if self._started else 0)
        codec.encode(msg, values, scaling)  # fail now, not in the loop, if values are incomplete
        self._tx_slot[frame_id] = len(self._tx_id)
        self._tx_id.append(frame_id)
        self._tx_msg.append(msg)
        self._tx_vals.append(values)
        self._tx_buf.append(bytearray(msg[codec.MSG_DLC]))
        self._tx_period.append(period_ms)
        self._tx_due.append(first_due)
        self._tx_fill.append(fill)
        self._tx_scaling.append(scaling)
        self._tx_on.append(enabled)
        self._tx_count.append(0)
        return values

    def set_tx_enabled(self, frame_id, on, now_ms=None):
        """Start/stop a cyclic frame; when started with now_ms it is due at once."""
        i = self._tx_slot[frame_id]
        if on and not self._tx_on[i] and now_ms is not None:
            self._tx_due[i] = now_ms
        self._tx_on[i] = on

    def tx_enabled(self, frame_id):
        return self._tx_on[self._tx_slot[frame_id]]

    def tx_values(self, frame_id):
        return self._tx_vals[self._tx_slot[frame_id]]

    def tx_count(self, frame_id):
        return self._tx_count[self._tx_slot[frame_id]]

    def send(self, frame_id, db, values):
        """Encode and send an event frame now; False if the port refused it
        (mailboxes full or bus-off). Raises CodecError on bad values."""
        msg = db.message(frame_id)
        data = codec.encode(msg, values)
        if self._state == CAN_BUS_OFF:
            return False
        return self.port.send(frame_id, data, msg[codec.MSG_EXT])

    def _transmit(self, now_ms):
        port = self.port
        due = self._tx_due
        sent = 0
        for i in range(len(self._tx_id)):
            if not self._tx_on[i] or now_ms < due[i]:
                continue
            msg = self._tx_msg[i]
            vals = self._tx_vals[i]
            fill = self._tx_fill[i]
            if fill is not None:
                fill(now_ms, vals)
            buf = self._tx_buf[i]
            try:
                codec.encode_into(msg, vals, buf, self._tx_scaling[i])
            except codec.CodecError:
                # a bad value from the application: skip this cycle, keep the schedule
                self.tx_errors += 1
                due[i] += self._tx_period[i]
                continue
            if not port.send(self._tx_id[i], buf, msg[codec.MSG_EXT]):
                break  # keep order: nothing after it goes out in this pass
            sent += 1
            self._tx_count[i] += 1
            nxt = due[i] + self._tx_period[i]
            if nxt <= now_ms:
                nxt = now_ms + self._tx_period[i]
                self.tx_late += 1
                self._emit(NODE_TX_LATE, self._tx_id[i])
            due[i] = nxt
        return sent

    # ------------------------------------------------------------ bus state
    def state(self):
        return self._state

    def _bus_state(self, now_ms):
        st = self.port.state()
        old = self._state
        if st != old:
            self._state = st
            if st == CAN_BUS_OFF:
                self.bus_off_count += 1
                self._busoff_ms = now_ms
                if self._last_busoff_ms is not None and now_ms - self._last_busoff_ms < _RESTART_STABLE_MS:
                    w = self._restart_wait * 2
                    self._restart_wait = w if w < _RESTART_MAX_MS else _RESTART_MAX_MS
                else:
                    self._restart_wait = _RESTART_MIN_MS
                self._last_busoff_ms = now_ms
                self._emit(NODE_BUS_OFF, st)
            elif st == CAN_ERROR_PASSIVE:
                if old != CAN_BUS_OFF:
                    self._emit(NODE_ERROR_PASSIVE, st)
            elif old >= CAN_ERROR_PASSIVE:
                self._emit(NODE_BUS_RECOVERED, st)
            if old == CAN_BUS_OFF and st != CAN_BUS_OFF:
                # resume every cyclic frame at once, in order, without a burst of "late" events
                for i in range(len(self._tx_due)):
                    self._tx_due[i] = now_ms
        if st == CAN_BUS_OFF and now_ms - self._busoff_ms >= self._restart_wait:
            self.port.restart()
            self.restarts += 1
            self._busoff_ms = now_ms  # next attempt one wait later if still off
        return st

    # ------------------------------------------------------------ loop
    def poll(self, now_ms):
        """One pass: bus state, receive + dispatch, timeouts, transmit.
        Returns the number of frames sent."""
        self._now = now_ms
        if not self._started:
            self._started = True
            for i in range(len(self._tx_due)):
                self._tx_due[i] += now_ms
        st = self._bus_state(now_ms)
        self._receive(now_ms)
        self._check_timeouts(now_ms)
        if st == CAN_BUS_OFF:
            return 0
        return self._transmit(now_ms)
