"""CHAdeMO charger-side (EVSE) V2X discharge state machine. Sans-IO.

The box plays the charger on a CHAdeMO inlet and draws power from the car.
This core never touches a pin, a contactor or a clock: the application
feeds it inputs and a timestamp, and it answers with

  * actions (kind, value) put into `outbox` (a firmware.core.ring.Ring):
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

from firmware.can.node import EV_BUS_OFF, EV_RX_TIMEOUT

# ---------------------------------------------------------------- frame ids (chademo-can.md s3)
_ID_100 = const(0x100)
_ID_101 = const(0x101)
_ID_102 = const(0x102)
_ID_110 = const(0x110)
_ID_200 = const(0x200)
_ID_201 = const(0x201)

# ---------------------------------------------------------------- states
S_IDLE = const(0)
S_WAIT_VEHICLE_CAN = const(1)         # d1 requested/closed, waiting for 0x100/0x102
S_CHECK_COMPATIBILITY = const(2)      # 0x108/0x109 out, waiting for 0x200, checking limits
S_WAIT_CHARGE_PERMISSION = const(3)   # k/j active and 0x102.5 b0
S_LOCKING = const(4)
S_INSULATION_TEST = const(5)          # EV contactors open (< 10 V), test, end of test (< 20 V)
S_WAIT_EV_CONTACTORS_CLOSED = const(6)  # d2 closed, car closes its contactors
S_CLOSING_BOX_CONTACTORS = const(7)   # precharge the DC link to the battery voltage, close
S_WAIT_CURRENT_REQUEST = const(8)     # car allows discharge (0x200 max discharge current > 0)
S_DISCHARGING = const(9)
S_STOPPING = const(10)                # stop control set, current <= 5 A
S_WELDING_DETECTION = const(11)       # b0 cleared, bleed, car opens contactors (0x102.5 b3)
S_OPENING_BOX_CONTACTORS = const(12)
S_ENDING = const(13)                  # d2 off, 500 ms, d1 off, unlock
S_FAULT = const(14)

STATE_NAMES = ("Idle", "WaitVehicleCan", "CheckCompatibility", "WaitChargePermission", "Locking",
               "InsulationTest", "WaitEvContactorsClosed", "ClosingBoxContactors", "WaitCurrentRequest",
               "Discharging", "Stopping", "WeldingDetection", "OpeningBoxContactors", "Ending", "Fault")

# ---------------------------------------------------------------- actions (kind, value) into `outbox`
A_D1 = const(1)                 # 1: close d1 (charge sequence signal 1), 0: open
A_D2 = const(2)                 # 1: close d2 (lets the car close its contactors), 0: open
A_LOCK = const(3)               # 1: lock the connector, 0: unlock
A_INSULATION_TEST = const(4)    # 1: run the inlet insulation test (grant = passed, deny = failed), 0: end it
A_PRECHARGE = const(5)          # value > 0: precharge the DC link to this many volts (grant = matched), 0: off
A_BOX_CONTACTORS = const(6)     # 1: close the box DC contactors, 0: open (grant = aux contacts agree)
A_DISCHARGE_LIMIT = const(7)    # discharge current limit for the power stage, A (no grant needed)
A_BLEED = const(8)              # 1: actively discharge the inlet/DC link (welding detection help), 0: off
_N_ACTIONS = const(9)

ACTION_NAMES = ("", "d1", "d2", "lock", "insulation-test", "precharge", "box-contactors",
                "discharge-limit", "bleed")

# ---------------------------------------------------------------- stop / fault reasons
R_NONE = const(0)
# normal ends (-> Idle)
R_USER_STOP = const(1)
R_EV_STOP_REQUEST = const(2)        # 0x102.5 b4
R_EV_DISABLED = const(3)            # 0x102.5 b0 cleared
R_PERMISSION_LOST = const(4)        # k/j released
R_SHIFT_NOT_PARK = const(5)         # 0x102.5 b1
R_SOC_FLOOR = const(6)              # 0x102 SoC <= 0x200 minimum discharge level
R_MIN_DISCHARGE_VOLTAGE = const(7)  # inlet <= 0x200 minimum discharge voltage
R_LOWER_THRESHOLD = const(8)        # inlet <= our 0x208 lower threshold
R_EV_CURRENT_ZERO = const(9)        # 0x200 max discharge current 0 A for 1 s
R_INCOMPATIBLE = const(10)          # battery incompatible (0x109.5 b3)
# vehicle / protocol faults (-> Fault)
R_EV_FAULT = const(20)              # 0x102.4 fault bits
R_EV_SYSTEM_FAULT = const(21)       # 0x102.5 b2
R_COMM_LOSS = const(22)             # vehicle frame timed out
R_BUS_OFF = const(23)
R_PLUG_REMOVED = const(24)
R_PERMISSION_BEFORE_CAN = const(25)  # j active before the first vehicle frame
R_EV_CONTACTORS_WELDED = const(26)   # voltage on the inlet before d2
R_EV_CONTACTOR_STATE = const(27)     # car reports contactors closed before d2
R_EV_CONTACTORS_OPENED = const(28)   # car opened its contactors during the session
# timeouts (-> Fault)
R_TIMEOUT_VEHICLE_CAN = const(30)
R_TIMEOUT_PERMISSION = const(31)
R_TIMEOUT_D2 = const(32)
R_TIMEOUT_EV_CONTACTORS = const(33)
R_TIMEOUT_BOX_CONTACTORS = const(34)
R_TIMEOUT_CURRENT_REQUEST = const(35)
R_TIMEOUT_STOP_CURRENT = const(36)
R_TIMEOUT_WELDING = const(37)
R_TIMEOUT_END_VOLTAGE = const(38)
R_TIMEOUT_LOCK = const(39)
R_TIMEOUT_GRANT = const(40)
# box-side faults (-> Fault, 0x109.5 b1 charger malfunction)
R_BOX_FAULT = const(50)
R_DENIED = const(51)
R_INSULATION_FAULT = const(52)
R_OVERCURRENT = const(53)
R_BOX_CONTACTORS_STUCK = const(54)
_R_FIRST_FAULT = const(20)
_R_FIRST_BOX = const(50)

REASON_NAMES = {
    R_NONE: "none", R_USER_STOP: "user-stop", R_EV_STOP_REQUEST: "ev-stop-request", R_EV_DISABLED: "ev-disabled",
    R_PERMISSION_LOST: "permission-lost", R_SHIFT_NOT_PARK: "shift-not-park", R_SOC_FLOOR: "soc-floor",
    R_MIN_DISCHARGE_VOLTAGE: "min-discharge-voltage", R_LOWER_THRESHOLD: "lower-threshold",
    R_EV_CURRENT_ZERO: "ev-current-zero", R_INCOMPATIBLE: "incompatible", R_EV_FAULT: "ev-fault",
    R_EV_SYSTEM_FAULT: "ev-system-fault", R_COMM_LOSS: "comm-loss", R_BUS_OFF: "bus-off",
    R_PLUG_REMOVED: "plug-removed", R_PERMISSION_BEFORE_CAN: "permission-before-can",
    R_EV_CONTACTORS_WELDED: "ev-contactors-welded", R_EV_CONTACTOR_STATE: "ev-contactor-state",
    R_EV_CONTACTORS_OPENED: "ev-contactors-opened", R_TIMEOUT_VEHICLE_CAN: "timeout-vehicle-can",
    R_TIMEOUT_PERMISSION: "timeout-permission", R_TIMEOUT_D2: "timeout-d2",
    R_TIMEOUT_EV_CONTACTORS: "timeout-ev-contactors", R_TIMEOUT_BOX_CONTACTORS: "timeout-box-contactors",
    R_TIMEOUT_CURRENT_REQUEST: "timeout-current-request", R_TIMEOUT_STOP_CURRENT: "timeout-stop-current",
    R_TIMEOUT_WELDING: "timeout-welding", R_TIMEOUT_END_VOLTAGE: "timeout-end-voltage",
    R_TIMEOUT_LOCK: "timeout-lock", R_TIMEOUT_GRANT: "timeout-grant", R_BOX_FAULT: "box-fault",
    R_DENIED: "denied", R_INSULATION_FAULT: "insulation-fault", R_OVERCURRENT: "overcurrent",
    R_BOX_CONTACTORS_STUCK: "box-contactors-stuck",
}

# ---------------------------------------------------------------- timings and thresholds
# chademo-can.md s6 (ccs32clara-chademo chademoCharger.cpp, furdog/chademo, Battery-Emulator) unless noted.
T_PERMISSION_MS = const(8000)       # s6 #4: k/j + 0x102.5 b0 within 8 s of d1 (also bounds the car's CAN start, #2)
T_D2_AFTER_K_MS = const(20000)      # s6 #6: d2 within 20 s of k
T_EV_CONTACTORS_MS = const(4000)    # s6 #7: car closes its contactors within 4 s of d2
T_CURRENT_REQUEST_MS = const(4000)  # s6 #9: request > 0 within 4 s of contactors closed
T_NO_REQUEST_MS = const(1000)       # s6 #11: no request for 1 s -> stop
T_STOP_CURRENT_MS = const(2500)     # s6 #12: the car waits 2.5 s for current <= 5 A
T_WELDING_MS = const(10000)         # s6 #13: car sets b3 within 4 s, limit 10 s
T_D1_AFTER_D2_MS = const(500)       # s6 #14: open d2, wait 500 ms, open d1
T_KEEPALIVE_MS = const(60000)       # s7: report 1 A every 60 s (Leaf ends after ~6 min at 0 A; ccs32clara)
# v2xbox choices (no number in the reference):
T_GRANT_MS = const(1000)            # supervisor confirms d1/d2 within 1 s
T_LOCK_MS = const(2000)             # lock feedback
T_BOX_CONTACTORS_MS = const(5000)   # precharge to the battery voltage + close
T_OPEN_BOX_MS = const(1000)         # box contactors report open (aux contacts)
T_END_VOLTAGE_MS = const(5000)      # inlet below 60 V before unlocking
T_OVERCURRENT_MS = const(1000)      # measured > allowed + 10 A this long (the car's own rule is 10 A for 5 s, s7)

V_EV_CONTACTORS_OPEN = const(10)    # s6 #6: inlet < 10 V with the car's contactors open
V_END_OF_TEST = const(20)           # s6 #6: end of insulation test < 20 V (and 0 V for d2, #7)
V_BATTERY_PRESENT = const(50)       # s6 #8: measured battery voltage > 50 V
V_MATCH = const(20)                 # box contactors close only with both sides within 20 V (issue #5 invariant)
V_WELDING_DONE = const(10)          # s6 #13: <= 10 V within 2 s
V_TOUCH_SAFE = const(60)            # s6 IEEE 2030.1.1 item: < 60 V (we keep the lock until then)
I_STOP_CURRENT = const(5)           # s6 #12: current <= 5 A
I_DEVIATION = const(10)             # s7: current deviation >= 10 A
LOWER_THRESHOLD_MARGIN_PCT = const(2)  # s7: Battery-Emulator adds 2 % to the car's minimum discharge voltage

# timeout anchors
_AT_ENTRY = const(0)
_AT_D1 = const(1)
_AT_PERMISSION = const(2)

_PENDING = const(-1)


def _clamp(x, lo, hi):
    x = int(x)
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


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
        self.state = S_IDLE
        self.reason = R_NONE       # first reason the session ended for
        self.fault = False
        self.fault_reason = R_NONE  # first reason that made it a fault (may differ from `reason`)
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
        self.ev_capacity = 0
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
        self.ev_dynamic = 0

    # ============================================================ inputs
    def on_frame(self, fid, v, now_ms):
        """CanNode RX handler: copy what we need out of the reused dict."""
        if fid == _ID_102:
            self._seen |= 4
            self.ev_protocol = v["ProtocolNumber"]
            self.ev_target_v = v["TargetBatteryVoltage"]
            self.ev_request_a = v["ChargingCurrentRequest"]
            self.ev_faults = (v["FaultBatteryOverVoltage"] | (v["FaultBatteryUnderVoltage"] << 1)
                              | (v["FaultBatteryCurrentDeviation"] << 2) | (v["FaultHighBatteryTemperature"] << 3)
                              | (v["FaultBatteryVoltageDeviation"] << 4))
            self.ev_enabled = v["StatusChargingEnabled"]
            self.ev_not_park = v["StatusShiftNotPark"]
            self.ev_sys_fault = v["StatusChargingSystemFault"]
            self.ev_contactor_open = v["StatusContactorOpen"]
            self.ev_stop_req = v["StatusNormalStopRequest"]
            self.ev_v2x = v["StatusDischargeCompatible"]
            self.ev_charged = v["ChargedRate"]
        elif fid == _ID_200:
            self._seen |= 8
            self.ev_max_dis_a = v["MaxDischargeCurrent"]   # already un-inverted by the DBC (s4)
            self.ev_min_dis_v = v["MinDischargeVoltage"]
            self.ev_min_level = v["MinBatteryDischargeLevel"]
        elif fid == _ID_100:
            self._seen |= 1
            self.ev_min_charge_a = v["MinChargeCurrent"]
            self.ev_max_v = v["MaxBatteryVoltage"]
            self.ev_ref = v["ChargedRateReference"]
        elif fid == _ID_101:
            self._seen |= 2
            self.ev_capacity = v["RatedBatteryCapacity"]
        elif fid == _ID_201:
            self._seen |= 16
        elif fid == _ID_110:
            self._seen |= 32
            self.ev_dynamic = v["DynamicControl"]

    def can_event(self, kind, value):
        """CanNode events: a supervised vehicle frame timing out or bus-off
        is a communication loss (s6 IEEE 2030.1.1 item: stop on it). Only
        while d1 is held: after d1 opens the car goes quiet on purpose."""
        if not self.req[A_D1]:
            return
        if kind == EV_RX_TIMEOUT:
            if value == _ID_100 or value == _ID_102 or value == _ID_200:
                self._comm_lost = R_COMM_LOSS
        elif kind == EV_BUS_OFF:
            self._comm_lost = R_BUS_OFF

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
        if self.state == S_IDLE:
            self._start_req = True

    def stop(self):
        self._start_req = False
        self._stop_req = True

    def reset(self):
        """Leave Fault (operator acknowledgement). Refused while the inlet is live."""
        if self.state != S_FAULT or self.inlet_v >= V_TOUCH_SAFE:
            return False
        self._request(A_LOCK, 0, self._now)
        self.state = S_IDLE
        self.reason = R_NONE
        self.fault = False
        self.fault_reason = R_NONE
        return True

    def grant(self, kind, value):
        """The supervisor applied request (kind, value)."""
        if 0 < kind < _N_ACTIONS and self.req[kind] == value:
            self.ok[kind] = value

    def deny(self, kind, value):
        """The supervisor refused (or a test failed for) request (kind, value)."""
        if 0 < kind < _N_ACTIONS and self.req[kind] == value and value and not self._denied:
            self._denied = R_INSULATION_FAULT if kind == A_INSULATION_TEST else R_DENIED
            self.denied_kind = kind

    # ============================================================ derived values
    def soc(self):
        """0x102 charged rate in % (relative to 0x100 byte 6; a Leaf sends the
        placeholder 240 until it knows the charger, s3.1: taken as 100)."""
        ref = self.ev_ref
        if ref <= 0 or ref > 200 or ref == 100:
            return self.ev_charged
        return self.ev_charged * 100 // ref

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

    def state_name(self):
        return STATE_NAMES[self.state]

    def reason_name(self):
        return REASON_NAMES.get(self.reason, "?")

    def safe(self):
        """Nothing requested that holds the car or the inlet live."""
        r = self.req
        return not (r[A_D1] or r[A_D2] or r[A_BOX_CONTACTORS] or r[A_PRECHARGE] or r[A_DISCHARGE_LIMIT])

    # ============================================================ TX fill (CanNode cyclic frames)
    def fill_capabilities(self, now_ms, v):
        """0x108 (sent before 0x109 in every cycle, s1)."""
        v["WeldingDetectionSupport"] = 1      # required for 1.x (s3.2)
        v["AvailableOutputVoltage"] = _clamp(self.max_voltage, 0, 1000)
        v["AvailableOutputCurrent"] = _clamp(self.box_limit_a, 0, 255)
        mx = self.ev_max_v if (self._seen & 1) and 0 < self.ev_max_v < self.max_voltage else self.max_voltage
        v["ThresholdVoltage"] = _clamp(mx, 0, 1000)   # min(car max V, charger max V)

    def fill_status(self, now_ms, v):
        """0x109. Present voltage is the MEASURED inlet voltage, never the
        car's target (s7 voltage deviation: ~20 V off -> car fault)."""
        v["ProtocolNumber"] = self.protocol
        v["PresentOutputVoltage"] = _clamp(self.inlet_v, 0, 1000)
        cur = 0
        if self.state == S_DISCHARGING and now_ms - self._keepalive_t >= T_KEEPALIVE_MS:
            cur = 1                           # s7 keep-alive: one frame with 1 A every 60 s
            self._keepalive_t = now_ms
        v["PresentOutputCurrent"] = cur
        v["DischargeCompatible"] = 1 if self._declared else 0
        ch = 1 if self._charging else 0
        v["StatusCharging"] = ch
        v["StatusChargingStopControl"] = 1 - ch   # b0 and b5 exclusive (s3.2)
        v["StatusConnectorLocked"] = 1 if self.ok[A_LOCK] == 1 else 0
        v["StatusBatteryIncompatible"] = 1 if self._incompatible else 0
        v["StatusChargingSystemMalfunction"] = 1 if self.fault else 0
        v["StatusChargerMalfunction"] = 1 if self.reason >= _R_FIRST_BOX else 0
        v["RemainingChargingTime10s"] = 2550      # raw 0xFF: use minutes (s3.2)
        v["RemainingChargingTimeMin"] = _clamp(self.remaining_min, 1, 255)  # stays >= 5 s (s7)

    def fill_discharge_status(self, now_ms, v):
        """0x208: measured discharge current (never faked, s7), our input limit
        and lower threshold. Inverted coding is done by the DBC (s4)."""
        v["PresentDischargeCurrent"] = _clamp(self.current_a, 0, 255)
        v["AvailableInputVoltage"] = _clamp(self.available_input_v, 0, 1000)
        v["AvailableInputCurrent"] = _clamp(self.box_limit_a, 0, 255)
        v["LowerThresholdVoltage"] = _clamp(self.lower_threshold_v(), 0, 1000)

    def fill_discharge_info(self, now_ms, v):
        """0x209: sequence control number 2 as in the Leaf logs (s5), no
        remaining time (0 = unused)."""
        v["SequenceControlNumber"] = 2
        v["RemainingDischargeTime"] = 0

    # ============================================================ requests
    def _request(self, kind, value, now):
        if self.req[kind] != value:
            self.req[kind] = value
            self.ok[kind] = _PENDING
            self._req_t[kind] = now
            self.outbox.put(kind, value)

    def _confirmed(self, kind):
        return self.ok[kind] == self.req[kind]

    def _overdue(self, kind, now, ms):
        return self.ok[kind] == _PENDING and now - self._req_t[kind] > ms

    # ============================================================ machine
    def step(self, now_ms):
        self._now = now_ms
        st = self.state
        if S_WAIT_VEHICLE_CAN <= st <= S_DISCHARGING:
            self._active_checks(now_ms)
        elif S_STOPPING <= st <= S_ENDING:
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
        if self.reason == R_NONE:
            self.reason = reason
        if fault:
            self.fault = True
            if self.fault_reason == R_NONE:
                self.fault_reason = reason

    def _stop(self, reason, fault, now):
        """End the session from an active state through the ordered shutdown."""
        self._note(reason, fault)
        self._start_req = False
        if self.req[A_BOX_CONTACTORS]:
            self._goto(S_STOPPING, now)
        else:
            self._goto(S_ENDING, now)

    def _active_checks(self, now):
        st = self.state
        if not self.plug:
            self._gone = True
            self._stop(R_PLUG_REMOVED, True, now)
        elif self._box_fault:
            self._stop(R_BOX_FAULT, True, now)
        elif self._denied:
            self._stop(self._denied, True, now)
        elif self._comm_lost:
            self._gone = True
            self._stop(self._comm_lost, True, now)
        elif self._stop_req:
            self._stop(R_USER_STOP, False, now)
        elif st >= S_WAIT_CHARGE_PERMISSION and self.ev_faults:
            self._stop(R_EV_FAULT, True, now)
        elif st >= S_WAIT_CHARGE_PERMISSION and self.ev_sys_fault:
            self._stop(R_EV_SYSTEM_FAULT, True, now)
        elif st >= S_LOCKING:
            if self.ev_stop_req:
                self._stop(R_EV_STOP_REQUEST, False, now)
            elif not self.permission:
                self._stop(R_PERMISSION_LOST, False, now)
            elif not self.ev_enabled:
                self._stop(R_EV_DISABLED, False, now)
            elif self.ev_not_park:
                self._stop(R_SHIFT_NOT_PARK, False, now)
            elif st > S_WAIT_EV_CONTACTORS_CLOSED and self.ev_contactor_open:
                self._stop(R_EV_CONTACTORS_OPENED, True, now)

    def _shutdown_checks(self):
        if not self.plug:
            self._gone = True
            self._note(R_PLUG_REMOVED, True)
        if self._comm_lost:
            self._gone = True
            self._note(self._comm_lost, True)
        if self._box_fault:
            self._note(R_BOX_FAULT, True)
        if self._denied:
            self._note(self._denied, True)

    def _limit_reason(self):
        """Discharge limits of s7, in the order they are reported."""
        if self.ev_min_level and self.soc() <= self.ev_min_level:
            return R_SOC_FLOOR
        v = self.inlet_v
        if v <= self.ev_min_dis_v:
            return R_MIN_DISCHARGE_VOLTAGE
        if v <= self.lower_threshold_v():
            return R_LOWER_THRESHOLD
        return R_NONE

    # ------------------------------------------------------------ Idle
    def _idle(self, now):
        if self._start_req and self.plug:
            self._begin(now)

    def _begin(self, now):
        self.session += 1
        self._start_req = False
        self._stop_req = False
        self.reason = R_NONE
        self.fault = False
        self.fault_reason = R_NONE
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
        self._goto(S_WAIT_VEHICLE_CAN, now)

    # ------------------------------------------------------------ WaitVehicleCan (s6 #1-2)
    def _enter_wait_can(self, now):
        self._request(A_D1, 1, now)

    def _wait_can(self, now):
        if self._overdue(A_D1, now, T_GRANT_MS):
            self._stop(R_TIMEOUT_GRANT, True, now)
        elif self.permission and not self._seen:
            # plausibility (s2, Battery-Emulator): j active before the first CAN frame
            self._stop(R_PERMISSION_BEFORE_CAN, True, now)
        elif (self._seen & 5) == 5:
            self._goto(S_CHECK_COMPATIBILITY, now)

    # ------------------------------------------------------------ CheckCompatibility (s6 #3)
    def _enter_compat(self, now):
        self.tx_main = True   # charger sends only after the first vehicle frame (s1)

    def _compat(self, now):
        bad = (not self.ev_v2x or self.ev_protocol < 1 or self.ev_max_v > self.max_voltage
               or self.ev_target_v > self.max_voltage or self.ev_max_v < self.min_voltage)
        if bad:
            self._incompatible = True   # 0x109.5 b3, with stop control still set
            self._stop(R_INCOMPATIBLE, False, now)
        elif self._seen & 8:            # V2X car: 0x200 limits known
            self._goto(S_WAIT_CHARGE_PERMISSION, now)

    # ------------------------------------------------------------ WaitChargePermission (s6 #4)
    def _wait_perm(self, now):
        if self.permission and self.ev_enabled:
            self._t_perm = now
            # Declare discharge only now, after the car's discovery phase (a ZE0 hung when it
            # came earlier, s7 ccs32clara UpdateChargerMessages); from here on 0x208/0x209 go
            # out every cycle (s7).
            self._declared = True
            self.tx_discharge = True
            self._goto(S_LOCKING, now)

    # ------------------------------------------------------------ Locking (s6 #5)
    def _enter_lock(self, now):
        self._request(A_LOCK, 1, now)

    def _locking(self, now):
        if self.ok[A_LOCK] == 1:
            self._goto(S_INSULATION_TEST, now)

    # ------------------------------------------------------------ InsulationTest (s6 #6)
    def _insulation(self, now):
        ph = self._phase
        if not self.ev_contactor_open:
            self._stop(R_EV_CONTACTOR_STATE, True, now)   # closed before d2: implausible (or welded)
        elif ph == 0:
            if self.inlet_v >= V_EV_CONTACTORS_OPEN:
                self._stop(R_EV_CONTACTORS_WELDED, True, now)
            elif self.insulation_test:
                self._request(A_INSULATION_TEST, 1, now)
                self._phase = 1
            else:
                self._phase = 2
        elif ph == 1:
            if self.ok[A_INSULATION_TEST] == 1:
                self._request(A_INSULATION_TEST, 0, now)
                self._phase = 2
        elif self.inlet_v < V_END_OF_TEST and self.req[A_INSULATION_TEST] == 0:
            self._goto(S_WAIT_EV_CONTACTORS_CLOSED, now)

    # ------------------------------------------------------------ WaitEvContactorsClosed (s6 #7)
    def _enter_wait_evc(self, now):
        self._request(A_D2, 1, now)   # with < 20 V on the inlet (checked just before)

    def _wait_evc(self, now):
        if self._overdue(A_D2, now, T_GRANT_MS):
            self._stop(R_TIMEOUT_GRANT, True, now)
        elif self.ok[A_D2] == 1 and not self.ev_contactor_open and self.inlet_v > V_BATTERY_PRESENT:
            self._goto(S_CLOSING_BOX_CONTACTORS, now)

    # ------------------------------------------------------------ ClosingBoxContactors (s6 #8)
    def _enter_close_box(self, now):
        v = int(self.inlet_v)
        self._request(A_PRECHARGE, v if v > 0 else 1, now)

    def _close_box(self, now):
        if self.inlet_v <= V_BATTERY_PRESENT:
            self._stop(R_EV_CONTACTORS_OPENED, True, now)
        elif self._phase == 0:
            target = self.req[A_PRECHARGE]
            if self.ok[A_PRECHARGE] > 0 and self.ok[A_PRECHARGE] == target:
                v = int(self.inlet_v)
                if -V_MATCH < v - target < V_MATCH:
                    self._request(A_BOX_CONTACTORS, 1, now)
                    self._phase = 1
                else:
                    # the inlet moved since the match (sensor step, car-side change):
                    # precharge again to what the inlet reads now, never close across a gap
                    self._request(A_PRECHARGE, v, now)
        elif self.ok[A_BOX_CONTACTORS] == 1:
            self._request(A_PRECHARGE, 0, now)
            self._goto(S_WAIT_CURRENT_REQUEST, now)

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
            self._goto(S_DISCHARGING, now)
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
                self._stop(R_EV_CURRENT_ZERO, False, now)
                return
        else:
            self._zero_since = -1
        a = self._allowed()
        self.allowed_a = a
        self._request(A_DISCHARGE_LIMIT, a, now)
        if self.current_a > a + I_DEVIATION:
            if self._over_since < 0:
                self._over_since = now
            elif now - self._over_since >= T_OVERCURRENT_MS:
                self._stop(R_OVERCURRENT, True, now)
        else:
            self._over_since = -1

    # ------------------------------------------------------------ Stopping (s6 #12)
    def _enter_stopping(self, now):
        # Stop control set (s6 #12). 0x109.5 b0 and b5 change together, exclusively
        # (s3.2), so charging status clears in the same frame.
        self._charging = False
        self.allowed_a = 0
        self._request(A_DISCHARGE_LIMIT, 0, now)
        self._request(A_PRECHARGE, 0, now)

    def _stopping(self, now):
        if self.current_a <= I_STOP_CURRENT:
            self._goto(S_WELDING_DETECTION, now)

    # ------------------------------------------------------------ WeldingDetection (s6 #13)
    def _enter_welding(self, now):
        if self._gone or not self._discharged:
            self._goto(S_OPENING_BOX_CONTACTORS, now)
        else:
            self._request(A_BLEED, 1, now)   # help the car: < 25 % in 1 s, <= 10 V in 2 s

    def _welding(self, now):
        if self._gone:
            self._goto(S_OPENING_BOX_CONTACTORS, now)
        elif self.ev_contactor_open and self.inlet_v <= V_WELDING_DONE:
            self._goto(S_OPENING_BOX_CONTACTORS, now)

    # ------------------------------------------------------------ OpeningBoxContactors
    def _enter_open_box(self, now):
        self._charging = False
        self._request(A_BLEED, 0, now)
        self._request(A_PRECHARGE, 0, now)
        self._request(A_BOX_CONTACTORS, 0, now)

    def _open_box(self, now):
        if self.ok[A_BOX_CONTACTORS] == 0:
            self._goto(S_ENDING, now)

    # ------------------------------------------------------------ Ending (s6 #14)
    def _enter_ending(self, now):
        self._charging = False
        self.allowed_a = 0
        self._request(A_DISCHARGE_LIMIT, 0, now)
        self._request(A_PRECHARGE, 0, now)
        self._request(A_BLEED, 0, now)
        self._request(A_INSULATION_TEST, 0, now)
        self._request(A_BOX_CONTACTORS, 0, now)
        self._request(A_D2, 0, now)

    def _ending(self, now):
        if self._phase == 0:
            if now - self._t_entry >= T_D1_AFTER_D2_MS:
                self._request(A_D1, 0, now)
                self.tx_main = False
                self.tx_discharge = False
                self._declared = False
                self._phase = 1
        elif self.inlet_v < V_TOUCH_SAFE:
            self._request(A_LOCK, 0, now)
            self._goto(S_FAULT if self.fault else S_IDLE, now)

    # ------------------------------------------------------------ Fault
    def _enter_fault(self, now):
        self.tx_main = False
        self.tx_discharge = False
        self._declared = False
        self._charging = False
        self._start_req = False
        # normally all released by Ending already; repeat so Fault is safe by construction
        self._request(A_DISCHARGE_LIMIT, 0, now)
        self._request(A_PRECHARGE, 0, now)
        self._request(A_BLEED, 0, now)
        self._request(A_INSULATION_TEST, 0, now)
        self._request(A_BOX_CONTACTORS, 0, now)
        self._request(A_D2, 0, now)
        self._request(A_D1, 0, now)

    def _hold(self, now):
        pass


# name, timeout ms (0: none), anchor, timeout reason, state after timeout (-1: stop), enter, step
C = ChademoCharger
STATES = (
    ("Idle", 0, _AT_ENTRY, R_NONE, -1, None, C._idle),
    ("WaitVehicleCan", T_PERMISSION_MS, _AT_D1, R_TIMEOUT_VEHICLE_CAN, -1, C._enter_wait_can, C._wait_can),
    ("CheckCompatibility", T_PERMISSION_MS, _AT_D1, R_TIMEOUT_VEHICLE_CAN, -1, C._enter_compat, C._compat),
    ("WaitChargePermission", T_PERMISSION_MS, _AT_D1, R_TIMEOUT_PERMISSION, -1, None, C._wait_perm),
    ("Locking", T_LOCK_MS, _AT_ENTRY, R_TIMEOUT_LOCK, -1, C._enter_lock, C._locking),
    ("InsulationTest", T_D2_AFTER_K_MS, _AT_PERMISSION, R_TIMEOUT_D2, -1, None, C._insulation),
    ("WaitEvContactorsClosed", T_EV_CONTACTORS_MS, _AT_ENTRY, R_TIMEOUT_EV_CONTACTORS, -1,
     C._enter_wait_evc, C._wait_evc),
    ("ClosingBoxContactors", T_BOX_CONTACTORS_MS, _AT_ENTRY, R_TIMEOUT_BOX_CONTACTORS, -1,
     C._enter_close_box, C._close_box),
    ("WaitCurrentRequest", T_CURRENT_REQUEST_MS, _AT_ENTRY, R_TIMEOUT_CURRENT_REQUEST, -1, None, C._wait_request),
    ("Discharging", 0, _AT_ENTRY, R_NONE, -1, None, C._discharging),
    ("Stopping", T_STOP_CURRENT_MS, _AT_ENTRY, R_TIMEOUT_STOP_CURRENT, S_WELDING_DETECTION,
     C._enter_stopping, C._stopping),
    ("WeldingDetection", T_WELDING_MS, _AT_ENTRY, R_TIMEOUT_WELDING, S_OPENING_BOX_CONTACTORS,
     C._enter_welding, C._welding),
    ("OpeningBoxContactors", T_OPEN_BOX_MS, _AT_ENTRY, R_BOX_CONTACTORS_STUCK, S_ENDING,
     C._enter_open_box, C._open_box),
    ("Ending", T_END_VOLTAGE_MS, _AT_ENTRY, R_TIMEOUT_END_VOLTAGE, S_FAULT, C._enter_ending, C._ending),
    ("Fault", 0, _AT_ENTRY, R_NONE, -1, C._enter_fault, C._hold),
)
del C
