"""The safety supervisor: a sans-IO state machine stepped every
SUPERVISOR_PERIOD_MS with the latest measurements and the session's intent.

It alone decides the output commands: every output that lets current flow
(contactors, precharge source, DC-link discharge, AC relay, N-PE bond,
power-stage enable, current/power limits, the CHAdeMO d1/d2 signal lines
and the connector lock, the control pilot's PWM and state F). Protocols
ask through `request()` (the charging port); they never drive a pin.
The session states *intent* (bit set, `I_*`); the supervisor grants what is
safe and vetoes the rest. Faults latch (see `faults.FAULTS`) and select a
reaction: stop (ramp down, then open), cut (power-stage enable off at once),
trip (open now, logged as an emergency if current was flowing) or lockout.

No allocation in `step()`: measurements come in a preallocated `Meas`,
commands go out in the preallocated `Cmd`.
"""
from micropython import const

from firmware.safety import faults as fl
from firmware.safety import invariants
from firmware.safety import limits as L

# ---- intent bits (what the session wants in its current state)
I_LINK = const(0x001)         # a vehicle link (PLC/CAN) is expected to be alive
I_ISO_TEST = const(0x002)     # apply the cable-check test voltage, judge the IMD
I_PRECHARGE = const(0x004)    # run the precharge source towards the target
I_CONTACTORS = const(0x008)   # box DC contactors closed
I_POWER_STAGE = const(0x010)  # power stage enabled (DC/DC up, inverter soft start)
I_CURRENT = const(0x020)      # discharge current may flow
I_AC = const(0x040)           # AC output energised
I_DISCHARGE = const(0x080)    # bleed the DC link
I_WELD_CHECK = const(0x100)   # judge whether the box contactors opened

# ---- protocol requests (`Supervisor.request`): what the protocol glue asks for
P_D1 = const(0x01)            # CHAdeMO d1 (charge sequence signal 1, pin 2)
P_D2 = const(0x02)            # CHAdeMO d2 (pin 10): lets the car close its contactors
P_LOCK = const(0x04)          # connector lock engaged
P_CP_PWM = const(0x08)        # control pilot 1 kHz oscillator on, duty `cp_duty_pm`
P_CP_F = const(0x10)          # control pilot state F (-12 V): "EVSE not available"

# d2 only with (about) 0 V on the inlet: the car closes its contactors onto
# a dead inlet (chademo-can.md s6 step 7).
D2_MAX_INLET_V = const(20)
# Control-pilot duty the supervisor lets through: 5 % = high-level
# communication (ISO 15118 / DIN 70121), else the IEC 61851-1 / SAE J1772
# current-signalling range 8 %..97 % (j1772-mode2.md).
CP_DUTY_HLC_PM = const(50)
CP_DUTY_MIN_PM = const(80)
CP_DUTY_MAX_PM = const(970)


def cp_duty_ok(pm):
    return pm == CP_DUTY_HLC_PM or CP_DUTY_MIN_PM <= pm <= CP_DUTY_MAX_PM


# ---- status bits returned by step()
S_ISO_OK = const(0x0001)
S_MATCHED = const(0x0002)
S_CLOSED = const(0x0004)
S_PS_READY = const(0x0008)
S_CURRENT_LOW = const(0x0010)
S_OPEN = const(0x0020)
S_WELD_OK = const(0x0040)
S_DISCHARGED = const(0x0080)
S_FAULT = const(0x0100)       # a latched fault that is a real failure
S_END = const(0x0200)         # a latched normal end (SoC floor / min voltage)
S_TRIP = const(0x0400)        # reaction trip or worse (contactors are open)
S_LOCKOUT = const(0x0800)
S_SAFE = const(0x1000)        # every energising output is off
S_AC_ON = const(0x2000)

# ---- output modes and the N-PE bond each needs (j1772-mode2.md §6-7):
# V2L island and V2V (Mode 2 IC-CPDs want N bonded to PE at the source) bond
# inside the box; V2H feeds a panel through a transfer switch that keeps the
# house's own bond, so the box must not add a second one.
MODE_V2L = const(0)
MODE_V2V = const(1)
MODE_V2H = const(2)
MODE_NAMES = ("V2L", "V2V", "V2H")
BOND_REQUIRED = (1, 1, 0)

# how contactors were opened in a step (for the invariant check)
OPEN_EMERGENCY = const(1)
OPEN_AFTER_CUT = const(2)

# A contactor's auxiliary contact must agree with the command within this
# (team: pull-in/drop-out of a 500 V DC contactor is a few tens of ms).
AUX_AGREE_MS = const(100)

# V2V RCD self-test phases (issue 12 item 4): before every closing of the AC
# relay in V2V mode the supervisor injects the test residual current
# (Cmd.rcd_test), expects RCD_OK to drop within limits.RCD_TRIP_MAX_MS,
# removes it and expects the RCD to re-arm within limits.RCD_REARM_MAX_MS.
RCD_IDLE = const(0)
RCD_TEST = const(1)           # test current on, waiting for the trip
RCD_REARM = const(2)          # test current off, waiting for RCD_OK again
RCD_PASSED = const(3)


def _known_in(x, hi):
    """A vehicle value is -1 (not reported) or within 0..hi (NaN is neither)."""
    return x == -1 or 0 <= x <= hi


class Meas:
    """Latest measurements and vehicle/power-stage data (filled by io/tests)."""

    def __init__(self):
        self.v_inlet = 0.0       # V, DC inlet (car side of the box contactors)
        self.v_link = 0.0        # V, box DC link
        self.i_dc = 0.0          # A, discharge current out of the car (power stage report)
        self.v_ac = 0.0          # V rms on the AC output terminals (load side of the relay)
        self.p_ac = 0.0          # W delivered by the inverter (negative: power flowing in)
        self.t_inlet = 25.0      # degC
        self.t_stage = 25.0      # degC
        self.estop_ok = True
        self.rcd_ok = True
        self.aux_pos = False     # contactor mirror contacts
        self.aux_neg = False
        self.iso_ohm = -1        # last IMD reading, -1 = none
        self.veh_seen_ms = -1    # last valid vehicle message (PLC or CAN)
        self.veh_max_i = -1.0    # A, car's discharge current limit (-1 unknown)
        self.veh_max_p = -1.0    # W
        self.veh_min_v = -1.0    # V
        self.veh_max_v = -1.0    # V, car's maximum voltage (cable-check test voltage)
        self.veh_target_v = -1.0 # V, precharge target announced by the car
        self.veh_soc = -1        # %
        self.veh_closed = False  # car reports its contactors closed
        self.ps_seen_ms = -1     # last power-stage status on the internal CAN
        self.ps_ready = False    # DC/DC up and inverter soft-started
        self.ps_fault = False
        # when the slower power-stage frames last arrived (-1 never): each
        # value has a maximum age (limits.SLOW_FRAME_MAX_AGE_MS / PS_LINK_TIMEOUT_MS)
        self.iso_seen_ms = -1        # PsIsolation (iso_ohm)
        self.t_stage_seen_ms = -1    # PsTemperatures (t_stage)
        self.ps_faults_seen_ms = -1  # PsFaults (ps_fault)
        self.inv_seen_ms = -1        # PsInverterStatus (p_ac)
        self.storage_ok = True       # the app's flash stores work (config, DTC log)
        # V2H transfer interlock (pins V2H_INTERLOCK), read by the safety io
        # with the time of the reading: older than V2H_INTERLOCK_MAX_AGE_MS is untrusted
        self.v2h_interlock = False
        self.v2h_interlock_ms = -1


class Cmd:
    """Output commands; the io adapter maps them onto pin roles."""

    def __init__(self):
        self.k_pos = 0
        self.k_neg = 0
        self.k_pre = 0
        self.pre_target_v = 0.0
        self.dc_discharge = 0
        self.ac_relay = 0
        self.npe_bond = 0
        self.ps_enable = 0
        self.i_limit_a = 0.0
        self.p_limit_w = 0.0
        self.d1 = 0              # CHAdeMO d1 relay
        self.d2 = 0              # CHAdeMO d2 relay (the car's contactor coil supply)
        self.lock = 0            # connector lock engaged
        self.cp_pwm_on = 0       # control pilot 1 kHz oscillator enabled
        self.cp_duty_pm = 0      # its duty in permille (50 = 5 %)
        self.cp_state_f = 0      # control pilot driven to -12 V (state F)
        self.rcd_test = 0        # RCD self-test current injected (V2V check)
        # the J1772 AC outlet's own pilot (V2V outlet mode), same meaning as cp_*
        self.outlet_cp_pwm_on = 0
        self.outlet_cp_duty_pm = 0
        self.outlet_cp_state_f = 0

    def safe(self):
        """Nothing lets current flow (the lock is not a current path: its safe
        value is "engaged while the inlet is live", see Supervisor)."""
        return not (self.k_pos or self.k_neg or self.k_pre or self.ac_relay or self.ps_enable
                    or self.d1 or self.d2 or self.cp_pwm_on or self.outlet_cp_pwm_on or self.rcd_test)

    def drop_signals(self):
        """E-stop / stall: the car loses its permission to close (d1, d2) and
        the pilot goes to state F."""
        self.d1 = self.d2 = 0
        self.cp_pwm_on = 0
        self.cp_duty_pm = 0
        self.cp_state_f = 1
        self.outlet_cp_pwm_on = 0
        self.outlet_cp_duty_pm = 0
        self.outlet_cp_state_f = 1
        self.rcd_test = 0


class Supervisor:
    def __init__(self, soc_floor_pct=L.SOC_FLOOR_DEFAULT_PCT, max_power_w=L.BOX_MAX_POWER_W,
                 mode=MODE_V2L):
        self.cmd = Cmd()
        self.m = None                # last Meas seen (for fault clearing)
        self.faults = 0              # latched fault bits
        self.new_faults = 0          # bits latched by the last step (for the DTC log)
        self.emergency_opens = 0     # contactor openings with > I_BREAK_MAX_A
        self.last_emergency_a = 0.0
        self.status = 0
        self.derate = 1.0
        self.soc_floor_pct = soc_floor_pct
        self.max_power_w = max_power_w
        self.mode = mode
        self._k = False              # contactors commanded closed
        self._cut_t0 = -1            # since when PS_ENABLE is low with contactors closed
        self._open_t0 = -1           # first time an open was wanted while current > 2 A
        self._intent = 0
        self._link_rise = -1         # when I_LINK was raised
        # vehicle-link timeout while the DC contactors are open (the protocol's
        # composition may allow its handshake message timeout; limits.py)
        self.link_open_timeout_ms = L.VEHICLE_LINK_TIMEOUT_MS
        self._oc_t0 = -1
        self._oc_ref = 0.0
        self._prev_ms = 0
        self._bf_t0 = -1
        self._dead_t0 = -1           # since when the AC output reads dead
        self._aux_bad_t0 = -1
        self._weld_t0 = -1
        self._weld_ok = False
        self.last_step_ms = -1
        self._boot_ms = -1
        self._stall_cut_ms = -1      # monitor: when it cut the power stage
        self._quiet_until = -1       # monitor: a planned gap (flash erase) while all is off
        self.proto = 0               # protocol requests (P_*)
        self.cp_duty_req = 0
        self.ceiling_a = 0.0         # last computed current ceiling (for tests/docs)
        self.t_valid = True          # last temperature judged trustworthy
        self._rcd_phase = RCD_IDLE
        self._rcd_t0 = -1
        self._rcd_abort = False
        self.rcd_tested = False      # V2V: the self-test passed since the relay last opened
        self.outlet_req = (0, 0, 0)  # outlet pilot request (pwm_on, duty_pm, state_f)

    # ------------------------------------------------------------ configuration
    def configure(self, soc_floor_pct, max_power_w, mode):
        """Apply validated user configuration (firmware.safety.config)."""
        if self.cmd.ac_relay and mode != self.mode:
            return False             # never swap the bond under an energised output
        self.soc_floor_pct = soc_floor_pct
        self.max_power_w = max_power_w
        self.mode = mode
        return True

    def request(self, bits, cp_duty_pm=0):
        """The protocol (through the charging port) asks for signal-line
        outputs; the next step() decides. Never drives anything itself."""
        self.proto = bits
        self.cp_duty_req = cp_duty_pm

    def request_outlet(self, pwm_on, duty_pm, state_f):
        """The inverter supervisory loop's J1772 outlet offer (outlet_offer());
        the next step() decides what the outlet pilot shows."""
        self.outlet_req = (1 if pwm_on else 0, duty_pm, 1 if state_f else 0)

    def interlock_made(self, now, m):
        """V2H transfer interlock made, by a reading no older than its max age."""
        t = m.v2h_interlock_ms
        return bool(m.v2h_interlock) and t >= 0 and 0 <= now - t <= L.V2H_INTERLOCK_MAX_AGE_MS

    # ------------------------------------------------------------ main step
    def step(self, now, m, intent):
        self.m = m
        if self._boot_ms < 0:
            self._boot_ms = now
        self.last_step_ms = now
        self._stall_cut_ms = -1
        self._quiet_until = -1
        if intent & I_LINK and not self._intent & I_LINK:
            self._link_rise = now
        if intent & I_WELD_CHECK and not self._intent & I_WELD_CHECK:
            self._weld_t0 = now
            self._weld_ok = False
        self._intent = intent
        c = self.cmd
        prev_k = c.k_pos
        prev_ac = c.ac_relay
        prev_bond = c.npe_bond
        prev_sig = (c.d1, c.d2, c.lock)
        before = self.faults
        self.faults |= self._detect(now, m, intent)
        self._prev_ms = now
        r = fl.reaction_of(self.faults)
        opened = self._drive(now, m, intent, r)
        v = invariants.check(self, m, prev_k, prev_ac, prev_bond, opened, prev_sig)
        if v:
            self.invariant_violation = v
            self.faults |= 1 << fl.F_INVARIANT
            self._force_safe(m)
        self.new_faults = self.faults & ~before
        self.status = self._status(m, intent)
        return self.status

    # ------------------------------------------------------------ detection
    def _detect(self, now, m, intent):
        f = 0
        k = self._k
        if not m.estop_ok:
            f |= 1 << fl.F_ESTOP
        # IMD readings count during the cable check and whenever the DC path is up
        if m.iso_ohm >= 0 and m.iso_ohm < L.ISO_MIN_OHM and (
                k or intent & (I_ISO_TEST | I_PRECHARGE | I_CONTACTORS)):
            f |= 1 << fl.F_ISOLATION
        f |= self._plausible(now, m, intent)
        t = m.t_inlet if m.t_inlet > m.t_stage else m.t_stage
        if not self.t_valid:
            self.derate = 0.0            # no trustworthy temperature: no power
        elif t >= L.T_STOP_C:
            f |= 1 << fl.F_OVER_TEMP
            self.derate = 0.0
        elif t > L.T_DERATE_C:
            self.derate = (L.T_STOP_C - t) / (L.T_STOP_C - L.T_DERATE_C)
        else:
            self.derate = 1.0
        # the vehicle link is watched once it has been up in this session
        # With the DC path closed the link must be alive, whatever the session asks.
        if (intent & I_LINK and m.veh_seen_ms >= self._link_rise >= 0 or k) and \
                now - m.veh_seen_ms > (L.VEHICLE_LINK_TIMEOUT_MS if k else self.link_open_timeout_ms):
            f |= 1 << fl.F_VEHICLE_LINK
        # the power stage reports continuously while the box is powered
        # (from boot: a stage that never reported counts as lost)
        if self._ps_lost(now, m):
            f |= 1 << fl.F_PS_LINK
        if m.ps_fault:
            f |= 1 << fl.F_PS_FAULT
        c = self.cmd
        # backfeed: a live output we are not driving, or power flowing into the inverter
        if not c.ac_relay and m.v_ac >= L.BACKFEED_V_RMS:
            f |= 1 << fl.F_BACKFEED
        if c.ac_relay and m.p_ac < -L.BACKFEED_P_W:
            if self._bf_t0 < 0:
                self._bf_t0 = now
            elif now - self._bf_t0 >= L.BACKFEED_TIME_MS:
                f |= 1 << fl.F_BACKFEED
        else:
            self._bf_t0 = -1
        # the output may only ever start with the RCD armed (its own self-test
        # trips it on purpose: judged by the test, F_RCD_TEST)
        if not m.rcd_ok and not (self._rcd_phase == RCD_TEST or self._rcd_phase == RCD_REARM):
            f |= 1 << fl.F_RCD
        if self.mode == MODE_V2H:
            # the interlock input is read every step: a stale reading is a fault,
            # and it must not open under an energised output
            if self._age_bad(now, m.v2h_interlock_ms, L.V2H_INTERLOCK_MAX_AGE_MS) or \
                    (c.ac_relay and not m.v2h_interlock):
                f |= 1 << fl.F_V2H_INTERLOCK
        if k:
            # both directions: a current pushed into the car counts as much
            i_abs = m.i_dc if m.i_dc >= 0 else -m.i_dc
            if i_abs > L.FUSE_RATING_A:
                f |= 1 << fl.F_SHORT
            # the granted limit, allowed to fall no faster than the power stage can follow
            dec = self._oc_ref - L.PS_RAMP_A_PER_S * (now - self._prev_ms) / 1000
            ref = c.i_limit_a
            self._oc_ref = ref if ref > dec else dec
            if i_abs > self._oc_ref + L.OC_MARGIN_A:
                if self._oc_t0 < 0:
                    self._oc_t0 = now
                elif now - self._oc_t0 >= L.OC_TIME_MS:
                    f |= 1 << fl.F_OVER_CURRENT
            else:
                self._oc_t0 = -1
        else:
            self._oc_ref = 0.0
            self._oc_t0 = -1
        if (intent & I_LINK or k) and 0 <= m.veh_soc <= self.soc_floor_pct:
            f |= 1 << fl.F_SOC_FLOOR
        # the inlet shows the pack once the car has closed; with our contactors
        # closed it is what we draw from, whatever the car reports
        if (k or (intent & I_CONTACTORS and m.veh_closed)) and m.veh_min_v > 0 and \
                m.v_inlet <= m.veh_min_v + L.V_MIN_MARGIN_V:
            f |= 1 << fl.F_MIN_VOLTAGE
        # auxiliary contacts must mirror the command
        if k:
            bad = not (m.aux_pos and m.aux_neg)
        else:
            bad = m.aux_pos or m.aux_neg
        if bad:
            if self._aux_bad_t0 < 0:
                self._aux_bad_t0 = now
            elif now - self._aux_bad_t0 >= AUX_AGREE_MS:
                f |= 1 << (fl.F_CONTACTOR if k else fl.F_WELDED)
        else:
            self._aux_bad_t0 = -1
        # welding check: with our contactors open the link must separate from the inlet
        if intent & I_WELD_CHECK and not k:
            if not (m.aux_pos or m.aux_neg) and (
                    m.v_link < L.V_SAFE_V or m.v_inlet - m.v_link > L.V_MATCH_MAX_V):
                self._weld_ok = True
            elif not self._weld_ok and now - self._weld_t0 >= L.WELD_CHECK_MS:
                f |= 1 << fl.F_WELDED
        return f

    def _age_bad(self, now, seen, max_age):
        """Older than max_age (never seen counts from boot), or from the future."""
        t = seen if seen >= 0 else self._boot_ms
        return now - t > max_age or t > now

    def _ps_lost(self, now, m):
        return (self._age_bad(now, m.ps_seen_ms, L.PS_LINK_TIMEOUT_MS)
                or self._age_bad(now, m.inv_seen_ms, L.PS_LINK_TIMEOUT_MS)
                or self._age_bad(now, m.ps_faults_seen_ms, L.SLOW_FRAME_MAX_AGE_MS))

    def _plausible(self, now, m, intent):
        """Range, NaN and age of every input (NaN fails every comparison)."""
        f = 0
        vmax = L.V_MAX_VALID_V
        if not (0 <= m.v_inlet <= vmax and 0 <= m.v_link <= vmax):
            f |= 1 << fl.F_V_SENSOR
        if not (-L.I_MAX_VALID_A < m.i_dc < L.I_MAX_VALID_A):
            f |= 1 << fl.F_I_SENSOR
        tv = (L.T_MIN_VALID_C < m.t_inlet < L.T_MAX_VALID_C and L.T_MIN_VALID_C < m.t_stage < L.T_MAX_VALID_C
              and not self._age_bad(now, m.t_stage_seen_ms, L.SLOW_FRAME_MAX_AGE_MS))
        self.t_valid = tv
        if not tv:
            f |= 1 << fl.F_T_SENSOR
        if not (0 <= m.v_ac <= L.V_AC_MAX_VALID_V and -L.P_AC_MAX_VALID_W <= m.p_ac <= L.P_AC_MAX_VALID_W):
            f |= 1 << fl.F_AC_SENSOR
        k = self._k
        # the IMD must be measuring, and recently, whenever the DC path is closed
        if k and (not m.iso_ohm >= 0 or self._age_bad(now, m.iso_seen_ms, L.SLOW_FRAME_MAX_AGE_MS)):
            f |= 1 << fl.F_IMD
        if intent & I_LINK or k:
            soc = m.veh_soc
            # -1 = not reported (yet); while current may flow it must be known
            if not (0 <= soc <= 100 or (soc == -1 and not (k and intent & I_CURRENT))):
                f |= 1 << fl.F_VEH_DATA
            elif not (_known_in(m.veh_max_i, L.I_MAX_VALID_A) and _known_in(m.veh_max_p, L.VEH_MAX_P_VALID_W)
                      and _known_in(m.veh_min_v, vmax) and _known_in(m.veh_max_v, vmax)
                      and _known_in(m.veh_target_v, vmax)):
                f |= 1 << fl.F_VEH_DATA
        if not m.storage_ok:
            f |= 1 << fl.F_STORAGE
        return f

    # ------------------------------------------------------------ outputs
    def ceiling(self, m):
        """Highest discharge current allowed now: min of the car's current and
        power limits, cable/connector and fuse ratings, the configured and box
        power, times the thermal derating."""
        v = m.v_inlet
        if not (L.V_SAFE_V <= v <= L.V_MAX_VALID_V and m.veh_max_i >= 0 and m.veh_max_p >= 0):
            return 0.0
        a = m.veh_max_i
        if L.CABLE_RATING_A < a:
            a = L.CABLE_RATING_A
        if L.FUSE_RATING_A < a:
            a = L.FUSE_RATING_A
        p = m.veh_max_p
        if self.max_power_w < p:
            p = self.max_power_w
        if L.BOX_MAX_POWER_W < p:
            p = L.BOX_MAX_POWER_W
        if p / v < a:
            a = p / v
        return a * self.derate

    def _drive(self, now, m, intent, r):
        """Compute the commands. Returns how contactors were opened this step:
        OPEN_EMERGENCY (current above I_BREAK_MAX_A), OPEN_AFTER_CUT (no
        current reading; power stage disabled for PS_CUT_SETTLE_MS) or 0."""
        c = self.cmd
        opened = 0
        fresh = self._fresh(now, m)
        # an unknown (stale, NaN, out-of-range) current counts as above the break limit
        i_abs = (m.i_dc if m.i_dc >= 0 else -m.i_dc) if fresh else L.FUSE_RATING_A
        want = bool(intent & I_CONTACTORS) and r == fl.R_NONE
        k_was = self._k
        if self._k:
            if r >= fl.R_TRIP:
                if self._open(i_abs):
                    opened = OPEN_EMERGENCY
            elif not want:
                # Without a fresh current reading (power-stage link lost), a
                # stage whose enable line has been low for PS_CUT_SETTLE_MS has
                # stopped switching (hardware), so that counts as low.
                cut_done = (not fresh and self._cut_t0 >= 0
                            and now - self._cut_t0 >= L.PS_CUT_SETTLE_MS)
                if i_abs <= L.I_BREAK_MAX_A:
                    self._open(i_abs)
                elif cut_done:
                    self._open(0.0)
                    opened = OPEN_AFTER_CUT
                else:
                    if self._open_t0 < 0:
                        self._open_t0 = now
                    if now - self._open_t0 >= L.RAMP_DOWN_TIMEOUT_MS:
                        self.faults |= 1 << fl.F_RAMP_TIMEOUT
                        r = fl.R_TRIP
                        if self._open(i_abs):
                            opened = OPEN_EMERGENCY
            else:
                self._open_t0 = -1
        elif want:
            dv = m.v_inlet - m.v_link
            # both mirror contacts must read open before closing (a welded
            # contact shows here before it can be closed onto)
            if -L.V_MATCH_MAX_V <= dv <= L.V_MATCH_MAX_V and not (m.aux_pos or m.aux_neg):
                self._k = True
                self._open_t0 = -1
        k = self._k
        c.k_pos = c.k_neg = 1 if k else 0
        # precharge / cable-check source: only before the contactors close, and
        # only towards a target someone asked for. Never the measured inlet: the
        # source reaches the open inlet through a diode (docs/safety.md), so the
        # inlet would follow the source and the source the inlet.
        tv = 0.0
        if intent & I_PRECHARGE and r == fl.R_NONE and not k:
            if intent & I_ISO_TEST:
                # IEC 61851-23 test voltage (ccs-nacs §6 row 7): min(500, EVmax + 50)
                tv = m.veh_max_v + 50 if m.veh_max_v > 0 else 0.0
            elif m.veh_target_v > 0:
                tv = m.veh_target_v
        if tv > 0:
            c.k_pre = 1
            c.pre_target_v = tv if tv < L.PRECHARGE_MAX_V else L.PRECHARGE_MAX_V
        else:
            c.k_pre = 0
            c.pre_target_v = 0.0
        c.dc_discharge = 1 if (not k and not c.k_pre and (intent & I_DISCHARGE or r >= fl.R_STOP)) else 0
        c.ps_enable = 1 if (k and intent & I_POWER_STAGE and r < fl.R_CUT) else 0
        if c.ps_enable or not k:
            self._cut_t0 = -1
        elif self._cut_t0 < 0:
            self._cut_t0 = now
        # current and AC only while the contactors are wanted closed: a pending
        # open ramps the current down first
        # ... and never on the step that closes them: the checks of this step
        # ran with them open, and the mirror contacts must confirm first
        if k and k_was and m.aux_pos and m.aux_neg and want and c.ps_enable and intent & I_CURRENT:
            a = self.ceiling(m)
            c.i_limit_a = a
            p = m.veh_max_p if m.veh_max_p < self.max_power_w else self.max_power_w
            if L.BOX_MAX_POWER_W < p:
                p = L.BOX_MAX_POWER_W
            c.p_limit_w = p * self.derate
        else:
            c.i_limit_a = 0.0
            c.p_limit_w = 0.0
        self.ceiling_a = c.i_limit_a
        # AC side
        need_bond = BOND_REQUIRED[self.mode]
        if m.v_ac < L.BACKFEED_V_RMS:
            if self._dead_t0 < 0:
                self._dead_t0 = now
        else:
            self._dead_t0 = -1
        pre = bool(c.ps_enable and want and intent & I_AC and m.ps_ready and c.npe_bond == need_bond)
        ac_ok = pre and m.rcd_ok
        if self.mode == MODE_V2H and not self.interlock_made(now, m):
            ac_ok = False            # the transfer switch must isolate the utility first
        if self.mode == MODE_V2V and not c.ac_relay:
            self._rcd_check(now, m, pre and self._dead_t0 >= 0)
            if not self.rcd_tested:
                ac_ok = False
        elif c.rcd_test:
            c.rcd_test = 0
            self._rcd_phase = RCD_IDLE
        if c.ac_relay:
            if not ac_ok:
                c.ac_relay = 0
                self._rcd_phase = RCD_IDLE   # every closing needs a fresh self-test
                self.rcd_tested = False
        else:
            c.npe_bond = need_bond   # the bond only moves while the output is dead
            if ac_ok and self._dead_t0 >= 0 and now - self._dead_t0 >= L.BACKFEED_CLEAR_MS:
                c.ac_relay = 1
        self._signals(m, r)
        return opened

    def _rcd_check(self, now, m, go):
        """V2V RCD self-test, run while the relay is open and everything else
        would let it close (`go`). A missing trip or re-arm latches F_RCD_TEST."""
        c = self.cmd
        ph = self._rcd_phase
        dt = now - self._rcd_t0
        if ph == RCD_TEST:
            if not m.rcd_ok:                 # tripped on the test current
                c.rcd_test = 0
                ph = RCD_REARM
                self._rcd_t0 = now
            elif not go:                     # conditions went away: abort the test
                c.rcd_test = 0
                ph = RCD_REARM
                self._rcd_t0 = now
                self._rcd_abort = True
            elif dt >= L.RCD_TRIP_MAX_MS:
                self.faults |= 1 << fl.F_RCD_TEST
                c.rcd_test = 0
                ph = RCD_IDLE
        elif ph == RCD_REARM:
            if m.rcd_ok:
                ph = RCD_IDLE if self._rcd_abort else RCD_PASSED
            elif dt >= L.RCD_REARM_MAX_MS:
                self.faults |= 1 << fl.F_RCD_TEST
                ph = RCD_IDLE
        elif ph == RCD_PASSED:
            if not go:
                ph = RCD_IDLE
        elif go and m.rcd_ok and not c.rcd_test:
            c.rcd_test = 1
            ph = RCD_TEST
            self._rcd_t0 = now
            self._rcd_abort = False
        self._rcd_phase = ph
        self.rcd_tested = ph == RCD_PASSED

    def _signals(self, m, r):
        """CHAdeMO d1/d2/lock and the control pilot, from the protocol's requests."""
        c = self.cmd
        p = self.proto
        tripped = r >= fl.R_TRIP or not m.estop_ok
        c.d1 = 1 if p & P_D1 and not tripped else 0
        if p & P_D2 and c.d1:
            # rises only onto a dead inlet (a NaN reading is not dead)
            if not c.d2 and not (-1.0 < m.v_inlet < D2_MAX_INLET_V):
                c.d2 = 0
            else:
                c.d2 = 1
        else:
            c.d2 = 0
        # the lock never releases while the DC path is closed or the inlet is live
        live = self._k or not (m.v_inlet < L.V_SAFE_V)
        c.lock = 1 if p & P_LOCK or (c.lock and live) else 0
        # control pilot: state F on request or on a trip; PWM only with a valid duty
        duty = self.cp_duty_req
        if tripped or p & P_CP_F:
            c.cp_state_f = 1
            c.cp_pwm_on = 0
            c.cp_duty_pm = 0
        elif p & P_CP_PWM and cp_duty_ok(duty):
            c.cp_state_f = 0
            c.cp_pwm_on = 1
            c.cp_duty_pm = duty
        else:
            c.cp_state_f = 0
            c.cp_pwm_on = 0
            c.cp_duty_pm = 0
        # the J1772 AC outlet's pilot (V2V outlet mode): the supervisory loop's
        # offer, state F on any stop-class fault, E-stop or outside V2V
        on, duty, f = self.outlet_req
        if r >= fl.R_STOP or not m.estop_ok or self.mode != MODE_V2V or f:
            c.outlet_cp_state_f = 1
            c.outlet_cp_pwm_on = 0
            c.outlet_cp_duty_pm = 0
        elif on and CP_DUTY_MIN_PM <= duty <= CP_DUTY_MAX_PM:
            c.outlet_cp_state_f = 0
            c.outlet_cp_pwm_on = 1
            c.outlet_cp_duty_pm = duty
        else:
            c.outlet_cp_state_f = 0
            c.outlet_cp_pwm_on = 0
            c.outlet_cp_duty_pm = 0

    @staticmethod
    def _fresh(now, m):
        """A current reading that is recent and plausible."""
        return (m.ps_seen_ms >= 0 and now - m.ps_seen_ms <= L.PS_READING_MAX_AGE_MS
                and -L.I_MAX_VALID_A < m.i_dc < L.I_MAX_VALID_A)

    def _open(self, i_abs):
        self._k = False
        self._open_t0 = -1
        c = self.cmd
        c.k_pos = c.k_neg = 0
        c.ps_enable = 0
        if i_abs > L.I_BREAK_MAX_A:
            self.emergency_opens += 1
            self.last_emergency_a = i_abs
            return True
        return False

    def _force_safe(self, m):
        c = self.cmd
        i_abs = (m.i_dc if m.i_dc >= 0 else -m.i_dc) if self._fresh(self.last_step_ms, m) else L.FUSE_RATING_A
        if self._k:
            self._open(i_abs)
        c.k_pos = c.k_neg = c.k_pre = c.ac_relay = c.ps_enable = 0
        c.i_limit_a = c.p_limit_w = 0.0
        c.dc_discharge = 1
        c.drop_signals()

    def _status(self, m, intent):
        c = self.cmd
        s = 0
        mask = self.faults
        if mask:
            if fl.only_normal_end(mask):
                s |= S_END
            else:
                s |= S_FAULT
            r = fl.reaction_of(mask)
            if r >= fl.R_TRIP:
                s |= S_TRIP
            if r >= fl.R_LOCKOUT:
                s |= S_LOCKOUT
        dv = m.v_inlet - m.v_link
        matched = -L.V_MATCH_MAX_V <= dv <= L.V_MATCH_MAX_V
        if intent & I_ISO_TEST and c.k_pre and m.iso_ohm >= L.ISO_MIN_OHM and c.pre_target_v > 0 \
                and m.v_link >= c.pre_target_v - L.V_MATCH_MAX_V:
            s |= S_ISO_OK
        if matched and m.v_inlet >= L.V_SAFE_V and m.veh_closed:
            s |= S_MATCHED
        if self._k and m.aux_pos and m.aux_neg:
            s |= S_CLOSED
        if c.ps_enable and m.ps_ready:
            s |= S_PS_READY
        i_abs = m.i_dc if m.i_dc >= 0 else -m.i_dc
        if c.i_limit_a == 0 and i_abs <= L.I_BREAK_MAX_A and self._fresh(self.last_step_ms, m):
            s |= S_CURRENT_LOW
        if not self._k and not m.aux_pos and not m.aux_neg:
            s |= S_OPEN
        if self._weld_ok:
            s |= S_WELD_OK
        if m.v_link < L.V_SAFE_V and m.v_inlet < L.V_SAFE_V:
            s |= S_DISCHARGED
        if c.safe():
            s |= S_SAFE
        if c.ac_relay:
            s |= S_AC_ON
        return s

    # ------------------------------------------------------------ asynchronous paths
    def estop(self, now):
        """E-stop interrupt path: trip at once, without waiting for a step."""
        self.faults |= 1 << fl.F_ESTOP
        m = self.m
        i_abs = L.FUSE_RATING_A          # unknown: count it as an emergency
        if m is not None and self._fresh(now, m):
            i_abs = m.i_dc if m.i_dc >= 0 else -m.i_dc
        if self._k:
            self._open(i_abs)
        c = self.cmd
        c.k_pos = c.k_neg = c.k_pre = c.ac_relay = c.ps_enable = 0
        c.i_limit_a = c.p_limit_w = 0.0
        c.drop_signals()
        self._rcd_phase = RCD_IDLE
        self.rcd_tested = False

    def planned_gap(self, now, ms):
        """The main loop is about to block for up to `ms` (a flash erase).
        Granted only while every output is off: a stall with nothing
        energised cannot let current flow. Returns True if granted."""
        if not self.cmd.safe():
            return False
        self._quiet_until = now + ms
        return True

    def monitor(self, now):
        """Timer-interrupt path watching the main loop. After LOOP_STALL_MS
        without a step it drops the power-stage enable (hardware cut) and the
        AC relay; PS_CUT_SETTLE_MS later, with the stage no longer switching,
        it opens the box contactors and drops d1/d2 and the pilot (the car
        opens its own contactors). Returns True when it changed any output
        (the io adapter then applies them)."""
        if self.last_step_ms < 0 or now - self.last_step_ms <= L.LOOP_STALL_MS:
            return False
        c = self.cmd
        if now <= self._quiet_until and c.safe():
            return False
        if self._stall_cut_ms < 0:
            self._stall_cut_ms = now
            self.faults |= 1 << fl.F_LOOP_STALL
            c.ps_enable = c.ac_relay = c.k_pre = c.rcd_test = 0
            c.i_limit_a = c.p_limit_w = 0.0
            return True
        if (self._k or c.d1 or c.d2 or c.cp_pwm_on or c.outlet_cp_pwm_on) and now - self._stall_cut_ms >= L.PS_CUT_SETTLE_MS:
            # the power stage stopped switching when its enable dropped
            self._k = False
            c.k_pos = c.k_neg = 0
            c.drop_signals()
            return True
        return False

    # ------------------------------------------------------------ clearing
    def _present(self, bit, m, now):
        """Is the condition behind a latched fault still there?"""
        if m is None:
            return False
        if bit == fl.F_ESTOP:
            return not m.estop_ok
        if bit == fl.F_OVER_TEMP:
            t = m.t_inlet if m.t_inlet > m.t_stage else m.t_stage
            return t >= L.T_RESTART_C
        if bit == fl.F_RCD:
            return not m.rcd_ok
        if bit == fl.F_BACKFEED:
            return m.v_ac >= L.BACKFEED_V_RMS
        if bit == fl.F_PS_LINK:
            return self._ps_lost(now, m)
        if bit == fl.F_V_SENSOR or bit == fl.F_I_SENSOR or bit == fl.F_T_SENSOR or bit == fl.F_AC_SENSOR \
                or bit == fl.F_STORAGE:
            return bool(self._plausible(now, m, 0) & (1 << bit))
        if bit == fl.F_PS_FAULT:
            return m.ps_fault
        if bit == fl.F_ISOLATION:
            return 0 <= m.iso_ohm < L.ISO_MIN_OHM
        if bit == fl.F_V2H_INTERLOCK:
            return self.mode == MODE_V2H and self._age_bad(now, m.v2h_interlock_ms, L.V2H_INTERLOCK_MAX_AGE_MS)
        return False

    def try_clear(self, now, reset=False, unplugged=False):
        """Clear latched faults whose condition is gone and whose rule allows
        it: C_AUTO on a user reset, C_UNPLUG once the car is unplugged,
        C_SERVICE never. Nothing clears while a contactor is commanded
        closed. Returns the faults still latched."""
        if self._k:
            return self.faults
        keep = 0
        for i in range(fl.N_FAULTS):
            b = 1 << i
            if not self.faults & b:
                continue
            rule = fl.FAULTS[i][3]
            allowed = (rule == fl.C_AUTO and reset) or (rule == fl.C_UNPLUG and unplugged)
            if not allowed or self._present(i, self.m, now):
                keep |= b
        self.faults = keep
        return keep

    def service_clear(self):
        """Technician command after repair: clears everything (incl. lockout)."""
        if not self._k:
            self.faults = 0
        return self.faults
