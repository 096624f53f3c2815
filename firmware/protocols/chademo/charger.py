"""CHAdeMO charger-side (EVSE) V2X discharge state machine. Sans-IO.

The package: spec.py (the reference's numbers), frames.py (frame <-> field
mapping, a mixin of this class), this module (the machine), adapter.py (the
machine behind the charging port, with the sans-IO entry points), link.py
(the CAN edge).

The box plays the charger on a CHAdeMO inlet and draws power from the car.
This core never touches a pin, a contactor or a clock: the application
feeds it inputs and a timestamp, and it answers with

  * requests (RQ_* kind, value) in `req` and, when given, put into `outbox`
    (a firmware.core.ring.Ring, for a supervisor that wants them as events):
    requests to the box's safety supervisor, which alone switches d1/d2,
    the lock and the contactors, and confirms or refuses each request
    through `grant(kind, value)` / `deny(kind, value)`;
  * the values of the frames 0x108/0x109/0x208/0x209, filled on demand by
    CanNode's cyclic TX through `fill_*` callbacks, and the two flags
    `tx_main` (send 0x108/0x109) and `tx_discharge` (send 0x208/0x209).

Inputs
  vehicle frames  on_frame(frame_id, values, now_ms)   (CanNode handler)
  CAN events      can_event(kind, frame_id)            (CanNode event ring)
  signal lines    set_permission(active)  (j: the car's k switch, pin 4)
                  set_plug(present)       (proximity, pin 7)
  measurements    measure(inlet_v, current_a)  (box side; current >= 0
                  is discharge current out of the car)
  box             set_box_limit(amps), box_fault(code)
  user            start(), stop(), reset()
  supervisor      grant(kind, value), deny(kind, value)
  time            step(now_ms) - every transition happens here

States follow the charger-side sequence of chademo-can.md s6 and are kept
in the table STATES (name, timeout ms, timeout anchor, timeout reason,
state after a timeout (-1: stop the session), enter fn, step fn). Every
wait has a timeout, and every abnormal end goes through the same ordered
shutdown: Stopping (current <= 5 A) -> WeldingDetection -> OpeningBox ->
Ending (d2 off, 500 ms, d1 off, unlock below 60 V) -> Idle, or Fault when
`fault` is set. Fault is left only by reset().

MicroPython: no per-step allocation (all state in preallocated attributes
and lists; frame values are copied out of CanNode's reused dicts).
"""
from micropython import const

from firmware.can.node import NODE_BUS_OFF, NODE_RX_TIMEOUT
from firmware.protocols.chademo import frames as F
from firmware.protocols.chademo.frames import (  # noqa: F401  (re-exported: ch.SEEN_*)
    SEEN_100, SEEN_101, SEEN_102, SEEN_110, SEEN_200, SEEN_201)
from firmware.protocols.chademo.spec import (  # noqa: F401  (re-exported: ch.T_*, ch.V_*)
    ID_100, ID_101, ID_102, ID_110, ID_200, ID_201, T_PERMISSION_MS, T_D2_AFTER_K_MS, T_EV_CONTACTORS_MS,
    T_CURRENT_REQUEST_MS, T_NO_REQUEST_MS, T_STOP_CURRENT_MS, T_WELDING_MS, T_D1_AFTER_D2_MS, T_KEEPALIVE_MS,
    T_GRANT_MS, T_LOCK_MS, T_BOX_CONTACTORS_MS, T_OPEN_BOX_MS, T_END_VOLTAGE_MS, T_OVERCURRENT_MS,
    V_EV_CONTACTORS_OPEN, V_END_OF_TEST, V_BATTERY_PRESENT, V_MATCH, V_WELDING_DONE, V_TOUCH_SAFE,
    I_STOP_A, I_DEVIATION_A, LOWER_THRESHOLD_MARGIN_PCT)

# ---------------------------------------------------------------- states
ST_IDLE = const(0)
ST_WAIT_VEHICLE_CAN = const(1)         # d1 requested/closed, waiting for 0x100/0x102
ST_CHECK_COMPATIBILITY = const(2)      # 0x108/0x109 out, waiting for 0x200, checking limits
ST_WAIT_CHARGE_PERMISSION = const(3)   # k/j active and 0x102.5 b0
ST_LOCKING = const(4)
ST_INSULATION_TEST = const(5)          # EV contactors open (< 10 V), test, end of test (< 20 V)
ST_WAIT_EV_CONTACTORS_CLOSED = const(6)  # d2 closed, car closes its contactors
ST_CLOSING_BOX_CONTACTORS = const(7)   # precharge the DC link to the battery voltage, close
ST_WAIT_CURRENT_REQUEST = const(8)     # car allows discharge (0x200 max discharge current > 0)
ST_DISCHARGING = const(9)
ST_STOPPING = const(10)                # stop control set, current <= 5 A
ST_WELDING_DETECTION = const(11)       # b0 cleared, bleed, car opens contactors (0x102.5 b3)
ST_OPENING_BOX_CONTACTORS = const(12)
ST_ENDING = const(13)                  # d2 off, 500 ms, d1 off, unlock
ST_FAULT = const(14)

STATE_NAMES = ("Idle", "WaitVehicleCan", "CheckCompatibility", "WaitChargePermission", "Locking",
               "InsulationTest", "WaitEvContactorsClosed", "ClosingBoxContactors", "WaitCurrentRequest",
               "Discharging", "Stopping", "WeldingDetection", "OpeningBoxContactors", "Ending", "Fault")

# ---------------------------------------------------------------- requests (kind, value) into `outbox`
RQ_D1 = const(1)                 # 1: close d1 (charge sequence signal 1), 0: open
RQ_D2 = const(2)                 # 1: close d2 (lets the car close its contactors), 0: open
RQ_LOCK = const(3)               # 1: lock the connector, 0: unlock
RQ_INSULATION_TEST = const(4)    # 1: run the inlet insulation test (grant = passed, deny = failed), 0: end it
RQ_PRECHARGE = const(5)          # value > 0: precharge the DC link to this many volts (grant = matched), 0: off
RQ_BOX_CONTACTORS = const(6)     # 1: close the box DC contactors, 0: open (grant = aux contacts agree)
RQ_DISCHARGE_LIMIT = const(7)    # discharge current limit for the power stage, A (no grant needed)
RQ_BLEED = const(8)              # 1: actively discharge the inlet/DC link (welding detection help), 0: off
_N_ACTIONS = const(9)

ACTION_NAMES = ("", "d1", "d2", "lock", "insulation-test", "precharge", "box-contactors",
                "discharge-limit", "bleed")

# ---------------------------------------------------------------- stop / fault reasons
END_NONE = const(0)
# normal ends (-> Idle)
END_USER_STOP = const(1)
END_EV_STOP_REQUEST = const(2)        # 0x102.5 b4
END_EV_DISABLED = const(3)            # 0x102.5 b0 cleared
END_PERMISSION_LOST = const(4)        # k/j released
END_SHIFT_NOT_PARK = const(5)         # 0x102.5 b1
END_SOC_FLOOR = const(6)              # 0x102 SoC <= 0x200 minimum discharge level
END_MIN_DISCHARGE_VOLTAGE = const(7)  # inlet <= 0x200 minimum discharge voltage
END_LOWER_THRESHOLD = const(8)        # inlet <= our 0x208 lower threshold
END_EV_CURRENT_ZERO = const(9)        # 0x200 max discharge current 0 A for 1 s
END_INCOMPATIBLE = const(10)          # battery incompatible (0x109.5 b3)
# vehicle / protocol faults (-> Fault)
END_EV_FAULT = const(20)              # 0x102.4 fault bits
END_EV_SYSTEM_FAULT = const(21)       # 0x102.5 b2
END_COMM_LOSS = const(22)             # vehicle frame timed out
END_BUS_OFF = const(23)
END_PLUG_REMOVED = const(24)
END_PERMISSION_BEFORE_CAN = const(25)  # j active before the first vehicle frame
END_EV_CONTACTORS_WELDED = const(26)   # voltage on the inlet before d2
END_EV_CONTACTOR_STATE = const(27)     # car reports contactors closed before d2
END_EV_CONTACTORS_OPENED = const(28)   # car opened its contactors during the session
# timeouts (-> Fault)
END_TIMEOUT_VEHICLE_CAN = const(30)
END_TIMEOUT_PERMISSION = const(31)
END_TIMEOUT_D2 = const(32)
END_TIMEOUT_EV_CONTACTORS = const(33)
END_TIMEOUT_BOX_CONTACTORS = const(34)
END_TIMEOUT_CURRENT_REQUEST = const(35)
END_TIMEOUT_STOP_CURRENT = const(36)
END_TIMEOUT_WELDING = const(37)
END_TIMEOUT_END_VOLTAGE = const(38)
END_TIMEOUT_LOCK = const(39)
END_TIMEOUT_GRANT = const(40)
# box-side faults (-> Fault, 0x109.5 b1 charger malfunction)
END_BOX_FAULT = const(50)
END_DENIED = const(51)
END_INSULATION_FAULT = const(52)
END_OVERCURRENT = const(53)
END_BOX_CONTACTORS_STUCK = const(54)
_END_FIRST_FAULT = const(20)
_END_FIRST_BOX = const(50)

REASON_NAMES = {
    END_NONE: "none", END_USER_STOP: "user-stop", END_EV_STOP_REQUEST: "ev-stop-request", END_EV_DISABLED: "ev-disabled",
    END_PERMISSION_LOST: "permission-lost", END_SHIFT_NOT_PARK: "shift-not-park", END_SOC_FLOOR: "soc-floor",
    END_MIN_DISCHARGE_VOLTAGE: "min-discharge-voltage", END_LOWER_THRESHOLD: "lower-threshold",
    END_EV_CURRENT_ZERO: "ev-current-zero", END_INCOMPATIBLE: "incompatible", END_EV_FAULT: "ev-fault",
    END_EV_SYSTEM_FAULT: "ev-system-fault", END_COMM_LOSS: "comm-loss", END_BUS_OFF: "bus-off",
    END_PLUG_REMOVED: "plug-removed", END_PERMISSION_BEFORE_CAN: "permission-before-can",
    END_EV_CONTACTORS_WELDED: "ev-contactors-welded", END_EV_CONTACTOR_STATE: "ev-contactor-state",
    END_EV_CONTACTORS_OPENED: "ev-contactors-opened", END_TIMEOUT_VEHICLE_CAN: "timeout-vehicle-can",
    END_TIMEOUT_PERMISSION: "timeout-permission", END_TIMEOUT_D2: "timeout-d2",
    END_TIMEOUT_EV_CONTACTORS: "timeout-ev-contactors", END_TIMEOUT_BOX_CONTACTORS: "timeout-box-contactors",
    END_TIMEOUT_CURRENT_REQUEST: "timeout-current-request", END_TIMEOUT_STOP_CURRENT: "timeout-stop-current",
    END_TIMEOUT_WELDING: "timeout-welding", END_TIMEOUT_END_VOLTAGE: "timeout-end-voltage",
    END_TIMEOUT_LOCK: "timeout-lock", END_TIMEOUT_GRANT: "timeout-grant", END_BOX_FAULT: "box-fault",
    END_DENIED: "denied", END_INSULATION_FAULT: "insulation-fault", END_OVERCURRENT: "overcurrent",
    END_BOX_CONTACTORS_STUCK: "box-contactors-stuck",
}

# timeout anchors
_AT_ENTRY = const(0)
_AT_D1 = const(1)
_AT_PERMISSION = const(2)

_PENDING = const(-1)


class ChademoCharger:
    def __init__(self, outbox, max_voltage=500, min_voltage=150, box_limit_a=15, protocol=2,
                 available_input_v=None, insulation_test=True, remaining_min=60):
        self.outbox = outbox
        # box configuration
        self.max_voltage = max_voltage      # 0x108 available output voltage; highest battery voltage we accept
        self.min_voltage = min_voltage      # lowest inlet voltage the power stage runs at
        self.box_limit_a = box_limit_a      # what the box can take now (set_box_limit)
        self.protocol = protocol            # 0x109 control protocol number (2 = 1.0, s3.2)
        # 0x208 available input voltage: the reference's field note says "min operating voltage",
        # its ZE0 frame shows 500 V; we send the configured value (default: max_voltage).
        self.available_input_v = max_voltage if available_input_v is None else available_input_v
        self.insulation_test = insulation_test
        self.remaining_min = remaining_min if remaining_min >= 1 else 1
        # state
        self.state = ST_IDLE
        self.reason = END_NONE       # first reason the session ended for
        self.fault = False
        self.fault_reason = END_NONE  # first reason that made it a fault (may differ from `reason`)
        self.session = 0            # incremented at every start
        self.denied_kind = 0
        self.setup_ms = -1          # ms from start to Discharging in the last session
        self.tx_main = False        # 0x108/0x109 wanted on the bus
        self.tx_discharge = False   # 0x208/0x209 wanted on the bus
        self.allowed_a = 0          # discharge current limit in force
        self._t_entry = 0
        self._t_d1 = 0
        self._t_perm = 0
        self._t_start = 0
        self._phase = 0
        self._now = 0
        # requests and confirmations per action kind
        self.req = [0] * _N_ACTIONS
        self.ok = [0] * _N_ACTIONS       # confirmed value, or _PENDING
        self._req_t = [0] * _N_ACTIONS
        # latched inputs
        self.plug = False
        self.permission = False
        self.inlet_v = 0
        self.current_a = 0
        self._start_req = False
        self._stop_req = False
        self._box_fault = 0
        self._denied = 0
        self._comm_lost = 0
        self._gone = False          # car unreachable (comm loss, plug removed): skip welding detection
        self._discharged = False
        self._declared = False      # 0x109.4 b0 sent
        self._charging = False      # 0x109.5 b0 (b5 = not b0)
        self._incompatible = False
        self._zero_since = -1
        self._over_since = -1
        self._keepalive_t = 0
        # vehicle data (copied from the decoded frames)
        self._seen = 0              # bit 0: 0x100, 1: 0x101, 2: 0x102, 3: 0x200, 4: 0x201, 5: 0x110
        self.ev_min_charge_a = 0
        self.ev_max_v = 0
        self.ev_ref = 100
        self.ev_capacity = 0        # 0x101 rated capacity, 0.1 kWh
        self.ev_protocol = 0
        self.ev_target_v = 0
        self.ev_request_a = 0
        self.ev_faults = 0          # 0x102.4 b0..b4
        self.ev_enabled = 0
        self.ev_not_park = 0
        self.ev_sys_fault = 0
        self.ev_contactor_open = 1
        self.ev_stop_req = 0
        self.ev_v2x = 0
        self.ev_charged = 0
        self.ev_max_dis_a = 0
        self.ev_min_dis_v = 0
        self.ev_min_level = 0
        self.ev_max_remaining = 0

    # ============================================================ frames (frames.py)
    def on_frame(self, fid, v, now_ms):
        """CanNode RX handler."""
        F.on_frame(self, fid, v, now_ms)

    def fill_capabilities(self, now_ms, v):
        F.fill_capabilities(self, now_ms, v)

    def fill_status(self, now_ms, v):
        F.fill_status(self, now_ms, v)

    def fill_discharge_status(self, now_ms, v):
        F.fill_discharge_status(self, now_ms, v)

    def fill_discharge_info(self, now_ms, v):
        F.fill_discharge_info(self, now_ms, v)

    # ============================================================ inputs
    def can_event(self, kind, value):
        """CanNode events: a supervised vehicle frame timing out or bus-off
        is a communication loss (s6 IEEE 2030.1.1 item: stop on it). Only
        while d1 is held: after d1 opens the car goes quiet on purpose."""
        if not self.req[RQ_D1]:
            return
        if kind == NODE_RX_TIMEOUT:
            if value == ID_100 or value == ID_102 or value == ID_200:
                self._comm_lost = END_COMM_LOSS
        elif kind == NODE_BUS_OFF:
            self._comm_lost = END_BUS_OFF

    def set_permission(self, active):
        self.permission = bool(active)

    def set_plug(self, present):
        self.plug = bool(present)

    def measure(self, inlet_v, current_a):
        """Box-side measurements, kept as whole volts / amps (the resolution
        of every CHAdeMO field), so that nothing in step() or the TX fill
        creates floats (boxed, i.e. heap, on MicroPython)."""
        self.inlet_v = int(inlet_v + 0.5) if inlet_v > 0 else 0
        self.current_a = int(current_a + 0.5) if current_a > 0 else 0

    def set_box_limit(self, amps):
        self.box_limit_a = amps if amps > 0 else 0

    def box_fault(self, code=1):
        self._box_fault = code or 1

    def start(self):
        if self.state == ST_IDLE:
            self._start_req = True

    def stop(self):
        self._start_req = False
        self._stop_req = True

    def reset(self):
        """Leave Fault (operator acknowledgement). Refused while the inlet is live."""
        if self.state != ST_FAULT or self.inlet_v >= V_TOUCH_SAFE:
            return False
        self._request(RQ_LOCK, 0, self._now)
        self.state = ST_IDLE
        self.reason = END_NONE
        self.fault = False
        self.fault_reason = END_NONE
        return True

    def grant(self, kind, value):
        """The supervisor applied request (kind, value)."""
        if 0 < kind < _N_ACTIONS and self.req[kind] == value:
            self.ok[kind] = value

    def deny(self, kind, value):
        """The supervisor refused (or a test failed for) request (kind, value)."""
        if 0 < kind < _N_ACTIONS and self.req[kind] == value and value and not self._denied:
            self._denied = END_INSULATION_FAULT if kind == RQ_INSULATION_TEST else END_DENIED
            self.denied_kind = kind

    # ============================================================ derived values
    def soc(self):
        """0x102 charged rate in % (relative to 0x100 byte 6; a Leaf sends the
        placeholder 240 until it knows the charger, s3.1: taken as 100)."""
        ref = self.ev_ref
        if ref <= 0 or ref > 200 or ref == 100:
            return self.ev_charged
        return self.ev_charged * 100 // ref

    def min_level_pct(self):
        """The car's SoC floor from 0x200 byte 6, in %.

        The reference reads bytes 6/7 as % ("kWh before V2H guideline 1.0",
        chademo-can.md s3); a real Leaf V2X session sent 67 and 178 with a
        22.2 kWh pack, which only make sense as 0.1 kWh (30 % / 80 %). Both
        readings are checked against what is possible (<= 100 %, byte 7 at or
        above byte 6; byte 7 of 0 or 0xFF = not given); if both are possible
        the higher floor wins (less energy taken), if neither is, the floor is
        100 % (no discharge)."""
        lo = self.ev_min_level
        hi = self.ev_max_remaining
        given = 0 < hi < 255
        pct_ok = lo <= 100 and (not given or lo <= hi <= 100)
        cap = self.ev_capacity
        k_lo = (lo * 100 + cap - 1) // cap if cap > 0 else 255
        k_hi = (hi * 100 + cap - 1) // cap if cap > 0 else 255
        kwh_ok = cap > 0 and k_lo <= 100 and (not given or k_lo <= k_hi <= 100)
        if pct_ok and kwh_ok:
            return lo if lo > k_lo else k_lo
        if pct_ok:
            return lo
        if kwh_ok:
            return k_lo
        return 100

    def lower_threshold_v(self):
        """0x208 lower threshold: the car's minimum discharge voltage + 2 %
        (Battery-Emulator, s7), never below what the box runs at."""
        v = self.ev_min_dis_v
        v = v + (v * LOWER_THRESHOLD_MARGIN_PCT + 99) // 100
        return v if v > self.min_voltage else self.min_voltage

    def _allowed(self):
        a = self.ev_max_dis_a
        b = self.box_limit_a
        a = a if a < b else b
        return int(a) if a > 0 else 0

    def locked(self):
        """The connector lock is confirmed (0x109.5 b2)."""
        return self.ok[RQ_LOCK] == 1

    def box_malfunction(self):
        """The session ended for a box-side reason (0x109.5 b1)."""
        return self.reason >= _END_FIRST_BOX

    def seen(self, mask):
        """True if every frame in `mask` (SEEN_*) arrived in this session."""
        return (self._seen & mask) == mask

    def min_discharge_v(self):
        return self.ev_min_dis_v

    def state_name(self):
        return STATE_NAMES[self.state]

    def reason_name(self):
        return REASON_NAMES.get(self.reason, "?")

    def safe(self):
        """Nothing requested that holds the car or the inlet live."""
        r = self.req
        return not (r[RQ_D1] or r[RQ_D2] or r[RQ_BOX_CONTACTORS] or r[RQ_PRECHARGE] or r[RQ_DISCHARGE_LIMIT])

    # ============================================================ requests
    def _request(self, kind, value, now):
        if self.req[kind] != value:
            self.req[kind] = value
            self.ok[kind] = _PENDING
            self._req_t[kind] = now
            if self.outbox is not None:
                self.outbox.put(kind, value)

    def _confirmed(self, kind):
        return self.ok[kind] == self.req[kind]

    def _overdue(self, kind, now, ms):
        return self.ok[kind] == _PENDING and now - self._req_t[kind] > ms

    # ============================================================ machine
    def step(self, now_ms):
        self._now = now_ms
        st = self.state
        if ST_WAIT_VEHICLE_CAN <= st <= ST_DISCHARGING:
            self._active_checks(now_ms)
        elif ST_STOPPING <= st <= ST_ENDING:
            self._shutdown_checks()
        row = STATES[self.state]
        tmo = row[1]
        if tmo:
            anchor = row[2]
            t0 = self._t_entry if anchor == _AT_ENTRY else (self._t_d1 if anchor == _AT_D1 else self._t_perm)
            if now_ms - t0 > tmo:
                nxt = row[4]
                if nxt < 0:
                    self._stop(row[3], True, now_ms)
                else:
                    self._note(row[3], True)
                    self._goto(nxt, now_ms)
                return self.state
        row[6](self, now_ms)
        return self.state

    def _goto(self, state, now):
        self.state = state
        self._t_entry = now
        self._phase = 0
        fn = STATES[state][5]
        if fn is not None:
            fn(self, now)

    def _note(self, reason, fault):
        if self.reason == END_NONE:
            self.reason = reason
        if fault:
            self.fault = True
            if self.fault_reason == END_NONE:
                self.fault_reason = reason

    def _stop(self, reason, fault, now):
        """End the session from an active state through the ordered shutdown."""
        self._note(reason, fault)
        self._start_req = False
        if self.req[RQ_BOX_CONTACTORS]:
            self._goto(ST_STOPPING, now)
        else:
            self._goto(ST_ENDING, now)

    def _active_checks(self, now):
        st = self.state
        if not self.plug:
            self._gone = True
            self._stop(END_PLUG_REMOVED, True, now)
        elif self._box_fault:
            self._stop(END_BOX_FAULT, True, now)
        elif self._denied:
            self._stop(self._denied, True, now)
        elif self._comm_lost:
            self._gone = True
            self._stop(self._comm_lost, True, now)
        elif self._stop_req:
            self._stop(END_USER_STOP, False, now)
        elif st >= ST_WAIT_CHARGE_PERMISSION and self.ev_faults:
            self._stop(END_EV_FAULT, True, now)
        elif st >= ST_WAIT_CHARGE_PERMISSION and self.ev_sys_fault:
            self._stop(END_EV_SYSTEM_FAULT, True, now)
        elif st >= ST_LOCKING:
            if self.ev_stop_req:
                self._stop(END_EV_STOP_REQUEST, False, now)
            elif not self.permission:
                self._stop(END_PERMISSION_LOST, False, now)
            elif not self.ev_enabled:
                self._stop(END_EV_DISABLED, False, now)
            elif self.ev_not_park:
                self._stop(END_SHIFT_NOT_PARK, False, now)
            elif st > ST_WAIT_EV_CONTACTORS_CLOSED and self.ev_contactor_open:
                self._stop(END_EV_CONTACTORS_OPENED, True, now)

    def _shutdown_checks(self):
        if not self.plug:
            self._gone = True
            self._note(END_PLUG_REMOVED, True)
        if self._comm_lost:
            self._gone = True
            self._note(self._comm_lost, True)
        if self._box_fault:
            self._note(END_BOX_FAULT, True)
        if self._denied:
            self._note(self._denied, True)

    def _limit_reason(self):
        """Discharge limits of s7, in the order they are reported."""
        floor = self.min_level_pct()
        if floor and self.soc() <= floor:
            return END_SOC_FLOOR
        v = self.inlet_v
        if v <= self.ev_min_dis_v:
            return END_MIN_DISCHARGE_VOLTAGE
        if v <= self.lower_threshold_v():
            return END_LOWER_THRESHOLD
        return END_NONE

    # ------------------------------------------------------------ Idle
    def _idle(self, now):
        if self._start_req and self.plug:
            self._begin(now)

    def _begin(self, now):
        self.session += 1
        self._start_req = False
        self._stop_req = False
        self.reason = END_NONE
        self.fault = False
        self.fault_reason = END_NONE
        self.denied_kind = 0
        self._box_fault = 0
        self._denied = 0
        self._comm_lost = 0
        self._gone = False
        self._discharged = False
        self._declared = False
        self._charging = False
        self._incompatible = False
        self._seen = 0
        self.ev_faults = 0
        self.ev_enabled = 0
        self.ev_contactor_open = 1
        self.ev_max_dis_a = 0
        self.allowed_a = 0
        self.setup_ms = -1
        self._t_start = now
        self._t_d1 = now
        self._goto(ST_WAIT_VEHICLE_CAN, now)

    # ------------------------------------------------------------ WaitVehicleCan (s6 #1-2)
    def _enter_wait_can(self, now):
        self._request(RQ_D1, 1, now)

    def _wait_can(self, now):
        if self._overdue(RQ_D1, now, T_GRANT_MS):
            self._stop(END_TIMEOUT_GRANT, True, now)
        elif self.permission and not self._seen:
            # plausibility (s2, Battery-Emulator): j active before the first CAN frame
            self._stop(END_PERMISSION_BEFORE_CAN, True, now)
        elif (self._seen & 5) == 5:
            self._goto(ST_CHECK_COMPATIBILITY, now)

    # ------------------------------------------------------------ CheckCompatibility (s6 #3)
    def _enter_compat(self, now):
        self.tx_main = True   # charger sends only after the first vehicle frame (s1)

    def _compat(self, now):
        bad = (not self.ev_v2x or self.ev_protocol < 1 or self.ev_max_v > self.max_voltage
               or self.ev_target_v > self.max_voltage or self.ev_max_v < self.min_voltage)
        if bad:
            self._incompatible = True   # 0x109.5 b3, with stop control still set
            self._stop(END_INCOMPATIBLE, False, now)
        elif self._seen & 8:            # V2X car: 0x200 limits known
            self._goto(ST_WAIT_CHARGE_PERMISSION, now)

    # ------------------------------------------------------------ WaitChargePermission (s6 #4)
    def _wait_perm(self, now):
        if self.permission and self.ev_enabled:
            self._t_perm = now
            # Declare discharge only now, after the car's discovery phase (a ZE0 hung when it
            # came earlier, s7 ccs32clara UpdateChargerMessages); from here on 0x208/0x209 go
            # out every cycle (s7).
            self._declared = True
            self.tx_discharge = True
            self._goto(ST_LOCKING, now)

    # ------------------------------------------------------------ Locking (s6 #5)
    def _enter_lock(self, now):
        self._request(RQ_LOCK, 1, now)

    def _locking(self, now):
        if self.ok[RQ_LOCK] == 1:
            self._goto(ST_INSULATION_TEST, now)

    # ------------------------------------------------------------ InsulationTest (s6 #6)
    def _insulation(self, now):
        ph = self._phase
        if not self.ev_contactor_open:
            self._stop(END_EV_CONTACTOR_STATE, True, now)   # closed before d2: implausible (or welded)
        elif ph == 0:
            if self.inlet_v >= V_EV_CONTACTORS_OPEN:
                self._stop(END_EV_CONTACTORS_WELDED, True, now)
            elif self.insulation_test:
                self._request(RQ_INSULATION_TEST, 1, now)
                self._phase = 1
            else:
                self._phase = 2
        elif ph == 1:
            if self.ok[RQ_INSULATION_TEST] == 1:
                self._request(RQ_INSULATION_TEST, 0, now)
                self._phase = 2
        elif self.inlet_v < V_END_OF_TEST and self.req[RQ_INSULATION_TEST] == 0:
            self._goto(ST_WAIT_EV_CONTACTORS_CLOSED, now)

    # ------------------------------------------------------------ WaitEvContactorsClosed (s6 #7)
    def _enter_wait_evc(self, now):
        self._request(RQ_D2, 1, now)   # with < 20 V on the inlet (checked just before)

    def _wait_evc(self, now):
        if self._overdue(RQ_D2, now, T_GRANT_MS):
            self._stop(END_TIMEOUT_GRANT, True, now)
        elif self.ok[RQ_D2] == 1 and not self.ev_contactor_open and self.inlet_v > V_BATTERY_PRESENT:
            self._goto(ST_CLOSING_BOX_CONTACTORS, now)

    # ------------------------------------------------------------ ClosingBoxContactors (s6 #8)
    def _enter_close_box(self, now):
        v = int(self.inlet_v)
        self._request(RQ_PRECHARGE, v if v > 0 else 1, now)

    def _close_box(self, now):
        if self.inlet_v <= V_BATTERY_PRESENT:
            self._stop(END_EV_CONTACTORS_OPENED, True, now)
        elif self._phase == 0:
            target = self.req[RQ_PRECHARGE]
            if self.ok[RQ_PRECHARGE] > 0 and self.ok[RQ_PRECHARGE] == target:
                v = int(self.inlet_v)
                if -V_MATCH < v - target < V_MATCH:
                    self._request(RQ_BOX_CONTACTORS, 1, now)
                    self._phase = 1
                else:
                    # the inlet moved since the match (sensor step, car-side change):
                    # precharge again to what the inlet reads now, never close across a gap
                    self._request(RQ_PRECHARGE, v, now)
        elif self.ok[RQ_BOX_CONTACTORS] == 1:
            self._request(RQ_PRECHARGE, 0, now)
            self._goto(ST_WAIT_CURRENT_REQUEST, now)

    # ------------------------------------------------------------ WaitCurrentRequest (s6 #9-10)
    def _wait_request(self, now):
        r = self._limit_reason()
        if r:
            self._stop(r, False, now)
        elif self.ev_max_dis_a > 0:
            # In discharge the car's "request" is its 0x200 allowed discharge current
            # (ZE0 log: FF -> F0 once contactors are closed, s5). Charging status on,
            # stop control off, at once (<= 0.5 s, s6 #10).
            self._charging = True
            self._discharged = True
            self._zero_since = -1
            self._over_since = -1
            self._keepalive_t = now
            self.setup_ms = now - self._t_start
            self._goto(ST_DISCHARGING, now)
            self._discharging(now)

    # ------------------------------------------------------------ Discharging (s6 #11, s7)
    def _discharging(self, now):
        r = self._limit_reason()
        if r:
            self._stop(r, False, now)
            return
        if self.ev_max_dis_a <= 0:
            if self._zero_since < 0:
                self._zero_since = now
            elif now - self._zero_since >= T_NO_REQUEST_MS:
                self._stop(END_EV_CURRENT_ZERO, False, now)
                return
        else:
            self._zero_since = -1
        a = self._allowed()
        self.allowed_a = a
        self._request(RQ_DISCHARGE_LIMIT, a, now)
        if self.current_a > a + I_DEVIATION_A:
            if self._over_since < 0:
                self._over_since = now
            elif now - self._over_since >= T_OVERCURRENT_MS:
                self._stop(END_OVERCURRENT, True, now)
        else:
            self._over_since = -1

    # ------------------------------------------------------------ Stopping (s6 #12)
    def _enter_stopping(self, now):
        # Stop control set (s6 #12). 0x109.5 b0 and b5 change together, exclusively
        # (s3.2), so charging status clears in the same frame.
        self._charging = False
        self.allowed_a = 0
        self._request(RQ_DISCHARGE_LIMIT, 0, now)
        self._request(RQ_PRECHARGE, 0, now)

    def _stopping(self, now):
        if self.current_a <= I_STOP_A:
            self._goto(ST_WELDING_DETECTION, now)

    # ------------------------------------------------------------ WeldingDetection (s6 #13)
    def _enter_welding(self, now):
        if self._gone or not self._discharged:
            self._goto(ST_OPENING_BOX_CONTACTORS, now)
        else:
            self._request(RQ_BLEED, 1, now)   # help the car: < 25 % in 1 s, <= 10 V in 2 s

    def _welding(self, now):
        if self._gone:
            self._goto(ST_OPENING_BOX_CONTACTORS, now)
        elif self.ev_contactor_open and self.inlet_v <= V_WELDING_DONE:
            self._goto(ST_OPENING_BOX_CONTACTORS, now)

    # ------------------------------------------------------------ OpeningBoxContactors
    def _enter_open_box(self, now):
        self._charging = False
        self._request(RQ_BLEED, 0, now)
        self._request(RQ_PRECHARGE, 0, now)
        self._request(RQ_BOX_CONTACTORS, 0, now)

    def _open_box(self, now):
        if self.ok[RQ_BOX_CONTACTORS] == 0:
            self._goto(ST_ENDING, now)

    # ------------------------------------------------------------ Ending (s6 #14)
    def _enter_ending(self, now):
        self._charging = False
        self.allowed_a = 0
        self._request(RQ_DISCHARGE_LIMIT, 0, now)
        self._request(RQ_PRECHARGE, 0, now)
        self._request(RQ_BLEED, 0, now)
        self._request(RQ_INSULATION_TEST, 0, now)
        self._request(RQ_BOX_CONTACTORS, 0, now)
        self._request(RQ_D2, 0, now)

    def _ending(self, now):
        if self._phase == 0:
            if now - self._t_entry >= T_D1_AFTER_D2_MS:
                self._request(RQ_D1, 0, now)
                self.tx_main = False
                self.tx_discharge = False
                self._declared = False
                self._phase = 1
        elif self.inlet_v < V_TOUCH_SAFE:
            self._request(RQ_LOCK, 0, now)
            self._goto(ST_FAULT if self.fault else ST_IDLE, now)

    # ------------------------------------------------------------ Fault
    def _enter_fault(self, now):
        self.tx_main = False
        self.tx_discharge = False
        self._declared = False
        self._charging = False
        self._start_req = False
        # normally all released by Ending already; repeat so Fault is safe by construction
        self._request(RQ_DISCHARGE_LIMIT, 0, now)
        self._request(RQ_PRECHARGE, 0, now)
        self._request(RQ_BLEED, 0, now)
        self._request(RQ_INSULATION_TEST, 0, now)
        self._request(RQ_BOX_CONTACTORS, 0, now)
        self._request(RQ_D2, 0, now)
        self._request(RQ_D1, 0, now)

    def _hold(self, now):
        pass


# name, timeout ms (0: none), anchor, timeout reason, state after timeout (-1: stop), enter, step
C = ChademoCharger
STATES = (
    ("Idle", 0, _AT_ENTRY, END_NONE, -1, None, C._idle),
    ("WaitVehicleCan", T_PERMISSION_MS, _AT_D1, END_TIMEOUT_VEHICLE_CAN, -1, C._enter_wait_can, C._wait_can),
    ("CheckCompatibility", T_PERMISSION_MS, _AT_D1, END_TIMEOUT_VEHICLE_CAN, -1, C._enter_compat, C._compat),
    ("WaitChargePermission", T_PERMISSION_MS, _AT_D1, END_TIMEOUT_PERMISSION, -1, None, C._wait_perm),
    ("Locking", T_LOCK_MS, _AT_ENTRY, END_TIMEOUT_LOCK, -1, C._enter_lock, C._locking),
    ("InsulationTest", T_D2_AFTER_K_MS, _AT_PERMISSION, END_TIMEOUT_D2, -1, None, C._insulation),
    ("WaitEvContactorsClosed", T_EV_CONTACTORS_MS, _AT_ENTRY, END_TIMEOUT_EV_CONTACTORS, -1,
     C._enter_wait_evc, C._wait_evc),
    ("ClosingBoxContactors", T_BOX_CONTACTORS_MS, _AT_ENTRY, END_TIMEOUT_BOX_CONTACTORS, -1,
     C._enter_close_box, C._close_box),
    ("WaitCurrentRequest", T_CURRENT_REQUEST_MS, _AT_ENTRY, END_TIMEOUT_CURRENT_REQUEST, -1, None, C._wait_request),
    ("Discharging", 0, _AT_ENTRY, END_NONE, -1, None, C._discharging),
    ("Stopping", T_STOP_CURRENT_MS, _AT_ENTRY, END_TIMEOUT_STOP_CURRENT, ST_WELDING_DETECTION,
     C._enter_stopping, C._stopping),
    ("WeldingDetection", T_WELDING_MS, _AT_ENTRY, END_TIMEOUT_WELDING, ST_OPENING_BOX_CONTACTORS,
     C._enter_welding, C._welding),
    ("OpeningBoxContactors", T_OPEN_BOX_MS, _AT_ENTRY, END_BOX_CONTACTORS_STUCK, ST_ENDING,
     C._enter_open_box, C._open_box),
    ("Ending", T_END_VOLTAGE_MS, _AT_ENTRY, END_TIMEOUT_END_VOLTAGE, ST_FAULT, C._enter_ending, C._ending),
    ("Fault", 0, _AT_ENTRY, END_NONE, -1, C._enter_fault, C._hold),
)
del C
