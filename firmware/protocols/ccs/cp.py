"""Control pilot and proximity for the CCS / NACS DC inlet (IEC 61851-1 Annex A,
SAE J1772), box in the EVSE role. Sans-IO: the edge samples the pilot's high
and low plateau (the ADC is triggered inside each half of the 1 kHz wave) and
calls `sample(high_mv, low_mv, now)`; the core returns pilot state changes as
events and *requests* the oscillator (the safety supervisor owns the pilot
output and decides; see `request()`).

Requests go to the charging port as signal lines (`port_lines()` ->
ChargingPort.lines(L_CP_PWM | L_CP_F, duty_pm)) and from there onto the
supervisor's `Cmd` fields (names fixed for the team):
    cp_pwm_on  (bool)  1 kHz oscillator enabled
    cp_duty_pm (int)   duty in permille; 50 = 5 % = high-level communication
    cp_state_f (bool)  drive -12 V static (state F)

Behaviour:
- A..F from the high plateau with +-1 V windows around 12/9/6/3/0/-12 V
  (Siemens TM ECC manual Table 3-2 tolerance); a value between windows is
  "invalid" and changes nothing. A new state is accepted after DEBOUNCE_MS
  of consistent samples (team: 200 ms = the lower end of EVerest's
  TP_EV_vald_state, far inside V2G_SECC_CPState_Detection_Timeout 1.5 s).
- Diode check: with the oscillator on and the car in B/C/D, the low plateau
  must be -12 V +-1 V; otherwise a "diode" fault (everest-core diode_fail).
- 5 % from the start: the oscillator comes on at 5 % as soon as a car is
  seen (B/C/D) and the duty never changes while the car is plugged (some
  cars fail SLAC otherwise: EvseSlac `ac_mode_five_percent`).
- After `session_stop(now)` the oscillator is kept V2G_SECC_CPOscillator_Retain_time
  = 1.5 s, then switched off (X1); unplug (A) switches it off at once.
- `ef_step(now, ms)`: state F for T_step_EF (4 s) so the car restarts SLAC,
  then 5 % again; `fault(now)`: state F until `clear_fault`. While the box
  drives F the pilot reads -12 V whatever the car does, so detection pauses
  (and restarts with a fresh debounce after F).
- E (0 V: pilot shorted to PE) and F read while we do not drive F are
  reported as faults.
"""
from micropython import const

DEBOUNCE_MS = const(200)
CP_STATE_DETECTION_TIMEOUT_MS = const(1500)   # V2G_SECC_CPState_Detection_Timeout (DIN 70121/ISO 15118-2)
CP_OSC_RETAIN_MS = const(1500)                # V2G_SECC_CPOscillator_Retain_time
T_STEP_EF_MS = const(4000)                    # EVerest T_step_EF
DUTY_HLC_PM = const(50)                       # 5 %: digital communication required
SETTLE_AFTER_F_MS = const(20)                 # pilot back from -12 V before samples count again (team)

A = "A"
B = "B"
C = "C"
D = "D"
E = "E"
F = "F"
INVALID = "?"

# (state, low mV, high mV): +-1 V around the nominal plateau (IEC 61851-1 Table A.4 via Siemens Table 3-2)
WINDOWS = (
    (A, 11000, 13000),
    (B, 8000, 10000),
    (C, 5000, 7000),
    (D, 2000, 4000),
    (E, -1000, 1000),
    (F, -13000, -11000),
)
LOW_OK = (-13000, -11000)   # low plateau with a healthy diode


def classify(high_mv):
    for st, lo, hi in WINDOWS:
        if lo <= high_mv <= hi:
            return st
    return INVALID


class ControlPilot:
    def __init__(self, debounce_ms=DEBOUNCE_MS):
        self.debounce_ms = debounce_ms
        self.state = A             # accepted state
        self._cand = A
        self._cand_since = 0
        self.invalid_samples = 0
        self.diode_faults = 0
        self._events = []
        self.pwm_on = False
        self.duty_pm = DUTY_HLC_PM
        self.state_f = False
        self._f_until = None       # end of an E/F step (None = not stepping)
        self._fault = False
        self._retain_until = None  # oscillator switch-off time after SessionStop
        self._stopped = False      # session stopped: no oscillator until unplug/restart
        self._resume_at = None     # samples count again from here (after F)
        self.last_change_ms = None

    # ---------------------------------------------------------------- requests
    def request(self):
        """(cp_pwm_on, cp_duty_pm, cp_state_f) for the supervisor."""
        return (self.pwm_on, self.duty_pm if self.pwm_on else 0, self.state_f)

    def port_lines(self):
        """The request as the charging port takes it: (mask of L_CP_PWM | L_CP_F,
        duty_pm) for `ChargingPort.lines(mask, duty_pm)` (firmware/charging/port.py)."""
        from firmware.charging import port as cport
        m = 0
        if self.pwm_on:
            m |= cport.L_CP_PWM
        if self.state_f:
            m |= cport.L_CP_F
        return m, (self.duty_pm if self.pwm_on else 0)

    def session_stop(self, now):
        """SessionStopRes sent: keep the oscillator 1.5 s, then X1."""
        if self.pwm_on and self._retain_until is None:
            self._retain_until = now + CP_OSC_RETAIN_MS

    def restart(self, now):
        """A new session on the same plug-in (e.g. after a stop): 5 % again."""
        self._stopped = False
        self._retain_until = None
        self._update_osc(now)

    def ef_step(self, now, ms=T_STEP_EF_MS):
        self._f_until = now + ms
        self._drive_f(now)

    def fault(self, now):
        self._fault = True
        self._drive_f(now)

    def clear_fault(self, now):
        self._fault = False
        if self._f_until is None:
            self._leave_f(now)

    def _drive_f(self, now):
        self.state_f = True
        self.pwm_on = False
        self._resume_at = None

    def _leave_f(self, now):
        self.state_f = False
        self._resume_at = now + SETTLE_AFTER_F_MS
        self._cand = INVALID
        self._update_osc(now)

    def next_timer(self):
        t = None
        for x in (self._f_until, self._retain_until):
            if x is not None and (t is None or x < t):
                t = x
        return t

    def handle_timer(self, now):
        if self._f_until is not None and now >= self._f_until:
            self._f_until = None
            if not self._fault:
                self._leave_f(now)
        if self._retain_until is not None and now >= self._retain_until:
            self._retain_until = None
            self._stopped = True
            self.pwm_on = False

    def events(self):
        e = self._events
        self._events = []
        return e

    # ---------------------------------------------------------------- samples
    def sample(self, high_mv, low_mv, now):
        """One measurement of the plateaus; low_mv None when the oscillator is off."""
        self.handle_timer(now)
        if self.state_f:
            return                 # we drive -12 V: the car cannot be read
        if self._resume_at is not None:
            if now < self._resume_at:
                return
            self._resume_at = None
        st = classify(high_mv)
        if st == INVALID:
            self.invalid_samples += 1
            return
        if st != self._cand:
            self._cand = st
            self._cand_since = now
        if st != self.state and now - self._cand_since >= self.debounce_ms:
            old = self.state
            self.state = st
            self.last_change_ms = now
            self._events.append(("state", old, st, now))
            if st in (E, F):
                self._events.append(("fault", "pilot reads state " + st))
            self._update_osc(now)
        if (self.pwm_on and low_mv is not None and self.state in (B, C, D) and st == self.state
                and not LOW_OK[0] <= low_mv <= LOW_OK[1]):
            self.diode_faults += 1
            self._events.append(("fault", "diode"))

    def _update_osc(self, now):
        if self.state_f:
            return
        if self.state == A:
            self.pwm_on = False
            self._stopped = False        # unplugged: the next car gets 5 % again
            self._retain_until = None
        elif self.state in (B, C, D):
            if not self._stopped:
                self.pwm_on = True
                self.duty_pm = DUTY_HLC_PM
        else:
            self.pwm_on = False          # E/F read: no oscillator into a fault


# ---------------------------------------------------------------- proximity
# Type 2 / CCS2 cable coding, Rc between PP and PE (IEC 62196-2; e-mobileo, Siemens manual p.24)
PP_TYPE2 = ((100, 63), (220, 32), (680, 20), (1500, 13))
PP_TYPE2_OPEN = 2000        # above: no cable (or 0 A)
PP_TYPE2_SHORT = 75         # below: fault
# Type 1 / CCS1 / NACS (SAE J1772): 150 ohm latched, 150 + 330 = 480 ohm with the button pressed
PP_T1_LATCHED = 150
PP_T1_PRESSED = 480

CODING_CCS2 = "ccs2"
CODING_CCS1 = "ccs1"        # also NACS / SAE J3400 (J1772-style PP with latch button)


def decode_pp(ohms, coding):
    """Proximity resistance -> (status, amps).
    ccs2: status "cable" with the coded current, "none" (open), "fault" (short).
    ccs1/nacs: "latched", "pressed" (the user is about to unplug: stop current), "none", "fault"."""
    if ohms is None or ohms < 0:
        return ("fault", 0)
    if coding == CODING_CCS2:
        if ohms < PP_TYPE2_SHORT:
            return ("fault", 0)
        if ohms > PP_TYPE2_OPEN:
            return ("none", 0)
        best = None
        for nominal, amps in PP_TYPE2:
            # accept within +-15 % of the nominal value (team: 5 % resistors + ADC error)
            if nominal * 85 // 100 <= ohms <= nominal * 115 // 100:
                best = amps
        if best is None:
            return ("fault", 0)
        return ("cable", best)
    if coding == CODING_CCS1:
        if ohms < PP_T1_LATCHED * 70 // 100:
            return ("fault", 0)
        if ohms <= PP_T1_LATCHED * 130 // 100:
            return ("latched", 0)
        if PP_T1_PRESSED * 80 // 100 <= ohms <= PP_T1_PRESSED * 120 // 100:
            return ("pressed", 0)
        if ohms > 3000:
            return ("none", 0)
        return ("fault", 0)
    raise ValueError("unknown proximity coding")
