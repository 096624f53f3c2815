"""Inverter protections that run at the cycle / supervisory rate
(inverter-and-v2l-targets.md §2 "ladder to adopt", §6). MicroPython rules.

- Overload: the default ladder 110-150 % for 10 s, 150-200 % for 5 s, above
  200 % trip within 100 ms, as an accumulator: each band adds dt / t_allowed
  and trips at 1.0; at or below 100 % the accumulator drains in 10 s, so
  repeated surges add up but a load that came back down is forgiven.
- Short circuit: the hardware comparator cuts the gates cycle by cycle
  (power stage); the controller latches on a sustained trip, retries after
  30 s and latches off for good after 3 attempts (Victron Phoenix behaviour,
  targets §1.3 / §2).
- Temperature derating of the current limit: 100 % up to 70 C on the
  hottest power-stage sensor, linear to 50 % at 85 C, trip at 90 C (team).
"""
from micropython import const

# (above this load ratio, allowed seconds). The >200 % band allows 80 ms so
# that, fed once per output cycle (<= 20 ms), the trip lands within 100 ms.
OL_BANDS = ((2.0, 0.08), (1.5, 5.0), (1.1, 10.0))
_EPS = 1e-9
OL_DRAIN_S = 10.0

SC_RETRY_S = 30.0
SC_MAX_ATTEMPTS = const(3)

T_DERATE_START_C = 70.0
T_DERATE_END_C = 85.0
T_DERATE_MIN = 0.5
T_TRIP_C = 90.0


def allowed_s(ratio):
    """Seconds the overload ladder allows at this load ratio (0 = unlimited)."""
    for lim, t in OL_BANDS:
        if ratio > lim:
            return t
    return 0.0


class Overload:
    def __init__(self):
        self.acc = 0.0
        self.tripped = False

    def reset(self):
        self.acc = 0.0
        self.tripped = False

    def update(self, ratio, dt_s):
        """Feed the current ratio I_rms / I_rated over dt_s; True once tripped."""
        t = allowed_s(ratio)
        if t > 0.0:
            self.acc += dt_s / t
        elif ratio <= 1.0:
            self.acc -= dt_s / OL_DRAIN_S
            if self.acc < 0.0:
                self.acc = 0.0
        if self.acc >= 1.0 - _EPS:
            self.tripped = True
        return self.tripped


class ShortCircuitLatch:
    """Latch + auto-retry policy. `fault(now_s)` on a detected short;
    `may_restart(now_s)` says whether the retry time has come."""

    def __init__(self, retry_s=SC_RETRY_S, max_attempts=SC_MAX_ATTEMPTS):
        self.retry_s = retry_s
        self.max_attempts = max_attempts
        self.attempts = 0
        self.latched = False
        self.lockout = False
        self.t_fault = 0.0

    def fault(self, now_s):
        self.latched = True
        self.t_fault = now_s
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self.lockout = True

    def may_restart(self, now_s):
        if not self.latched or self.lockout:
            return False
        if now_s - self.t_fault >= self.retry_s:
            self.latched = False
            return True
        return False

    def clear(self):
        """Operator reset (FaultReset over power_stage.dbc)."""
        self.attempts = 0
        self.latched = False
        self.lockout = False


def derate(temp_c):
    """Current-limit factor for the hottest sensor; 0.0 means trip."""
    if temp_c >= T_TRIP_C:
        return 0.0
    if temp_c <= T_DERATE_START_C:
        return 1.0
    if temp_c >= T_DERATE_END_C:
        return T_DERATE_MIN
    x = (temp_c - T_DERATE_START_C) / (T_DERATE_END_C - T_DERATE_START_C)
    return 1.0 - x * (1.0 - T_DERATE_MIN)
