"""The inverter's supervisory loop on the main controller (MicroPython,
100 Hz - 1 kHz; inverter-and-v2l-targets.md §8 "Function / Rate / Where").

Sans-IO: measurements in (decoded power_stage.dbc status frames, the car's
limits, the configuration), setpoints out (PsInverterSetpoint and
PsDcDcSetpoint values, encoded with the generated codecs), with the caller's
clock. It owns:
- the output profile from the configuration (firmware/safety/config.py:
  120 V/60 Hz, 230 V/50 Hz, 120/240 V split phase; for the split phase the
  AC voltage setpoint is the line-to-line 240 V, each leg 120 V);
- RMS trim: a slow integrator on the measured RMS so the delivered voltage
  sits on nominal (bounded to +-TRIM_MAX_PCT);
- the power budget: the smallest of the configured maximum, the profile's
  rating, the car's discharge current x inlet voltage and its power limit,
  temperature derating, and a taper to zero over the last SOC_TAPER_PCT above
  the SoC floor (it stops at the floor);
- energy accounting: from the car (inlet), to the loads (AC), losses;
- the J1772 / IEC 61851 outlet offer (V2V): the pilot duty for exactly the
  current the budget can deliver (j1772-mode2.md §3);
- start permits for V2H (no live inlet, transfer interlock made) and V2V
  (N-PE bond, RCD tested). The safety supervisor (firmware/safety) still
  owns every output (relays, bond, pilot) and its own backfeed / RCD / bond
  rules; these permits are the inverter side's reasons to ask, not to act.
"""
from micropython import const

from firmware.can.gen import power_stage as ps
from inverter.controller import protection as PR

PROFILE_120_60 = const(0)           # same numbering as firmware/safety/config.py
PROFILE_230_50 = const(1)
PROFILE_120_240_SPLIT = const(2)
PROFILE_V = (120.0, 230.0, 240.0)    # AcVoltageSetpoint (split: line to line)
PROFILE_HZ = (60.0, 50.0, 60.0)
PROFILE_MAX_W = (3600, 7200, 7200)   # firmware/safety/config.py PROFILE_MAX_W

TRIM_MAX_PCT = 3.0                   # (team) trim authority, +-3 % of nominal
TRIM_GAIN_PER_S = 2.0                # (team) integrator gain: ~0.5 s time constant
SOC_TAPER_PCT = 2.0                  # (team) budget tapers to 0 over the last 2 % above the floor
DCDC_EFF_EST = 0.94                  # (team) for the inlet-side limits
INLET_V_MARGIN = 5.0                 # (team) stop drawing this far above the car's minimum
MIN_OFFER_A = const(6)               # J1772: below 6 A no AC charging offer
SOFT_START_MS = const(500)           # (team) amplitude ramp for OBC / SMPS inrush (targets §6: 50-500 ms)
_STALE_MS = const(100)               # a status older than this is not trusted (power_stage.dbc timeouts 50 ms)
_TEMP_STALE_MS = const(1000)         # PsTemperatures is a 100 ms frame


def j1772_duty_pm(amps):
    """Pilot duty (permille) offering `amps` (SAE J1772 duty mapping,
    j1772-mode2.md §3); 0 below 6 A (no offer), capped at 80 A."""
    if amps < MIN_OFFER_A:
        return 0
    if amps > 80:
        amps = 80
    if amps <= 51:
        return int(amps * 1000 // 60)            # duty % = I / 0.6
    return int(amps * 4 + 640)                  # duty % = I / 2.5 + 64


def j1772_amps(duty_pm):
    """Current a pilot duty offers (the car's reading), for checks."""
    if duty_pm < 80:
        return 0.0
    if duty_pm < 100:
        return 6.0
    if duty_pm <= 850:
        return duty_pm * 0.06
    if duty_pm <= 960:
        return (duty_pm - 640) * 0.25
    return 80.0


def v2h_permit(inlet_v_rms, interlock_closed):
    """(ok, reason) to start into a home's generator inlet: never onto a live
    inlet (backfeed), and only with the transfer interlock made."""
    if inlet_v_rms >= 30.0:         # limits.BACKFEED_V_RMS
        return False, "inlet is live (%.0f V): refusing to back-feed" % inlet_v_rms
    if not interlock_closed:
        return False, "transfer interlock open"
    return True, ""


def v2v_permit(bond_closed, rcd_tested, rcd_ok):
    """(ok, reason) to start a V2V output: N-PE bonded at the box (Mode 2
    IC-CPDs refuse a floating neutral) and the RCD tested and armed."""
    if not bond_closed:
        return False, "N-PE bond not closed"
    if not rcd_tested:
        return False, "RCD not tested this session"
    if not rcd_ok:
        return False, "RCD not armed"
    return True, ""


def _clamp(x, hi):
    if x < 0.0:
        return 0.0
    return hi if x > hi else x


class Supervisory:
    def __init__(self, profile=PROFILE_230_50, max_power_w=3600, soc_floor_pct=20, cable_a=0):
        self.profile = PROFILE_230_50
        self.max_power_w = 0
        self.soc_floor = 20.0
        self.cable_a = cable_a       # J1772 outlet mode: socket/cable rating, A (0 = plain socket)
        self.configure(profile, max_power_w, soc_floor_pct)
        # car limits (CHAdeMO 0x200 / ISO 15118 discharge limits)
        self.car_max_i = 0.0
        self.car_max_p = 0.0
        self.car_min_v = 0.0
        self.soc = -1.0
        # measurements and their time
        self.v_in = self.i_in = self.v_link = 0.0
        self.v_ac = self.i_ac = self.f_ac = self.p_ac = 0.0
        self.temp_c = 25.0
        self.t_dcdc = -1
        self.t_inv = -1
        self.t_temp = -1
        # outputs
        self.trim = 0.0
        self.budget_w = 0.0
        self.v_set = 0.0
        self.i_ac_limit = 0.0
        self.inv = {"AcVoltageSetpoint": 0.0, "AcFrequencySetpoint": PROFILE_HZ[self.profile],
                    "AcCurrentLimit": 0.0, "SoftStartRamp": SOFT_START_MS}
        self.dcdc = {"DcLinkVoltageSetpoint": 0.0, "InletCurrentLimit": 0.0, "InletVoltageMin": 0.0,
                     "PowerLimit": 0.0}
        self.stop_reason = ""
        # energy, Wh
        self.e_car_wh = 0.0
        self.e_ac_wh = 0.0
        self._t_last = -1
        self.running = False

    # ------------------------------------------------------------ inputs
    def configure(self, profile, max_power_w, soc_floor_pct):
        if not 0 <= profile < len(PROFILE_V):
            raise ValueError("profile %r unknown" % (profile,))
        if not 0 < max_power_w <= PROFILE_MAX_W[profile]:
            raise ValueError("max_power_w %r outside 0..%d W" % (max_power_w, PROFILE_MAX_W[profile]))
        if not 0 <= soc_floor_pct < 100:
            raise ValueError("soc_floor_pct %r outside 0..99" % (soc_floor_pct,))
        self.profile = profile
        self.max_power_w = max_power_w
        self.soc_floor = float(soc_floor_pct)
        self.trim = 0.0

    def car_limits(self, max_i_a, max_p_w, min_v, soc_pct):
        self.car_max_i = max_i_a
        self.car_max_p = max_p_w
        self.car_min_v = min_v
        self.soc = soc_pct

    def rx(self, fid, v, now):
        """A decoded power_stage.dbc status frame."""
        if fid == ps.ID_PsDcDcStatus:
            self.v_in = v["InletVoltage"]
            self.i_in = v["InletCurrent"]
            self.v_link = v["DcLinkVoltage"]
            self.t_dcdc = now
        elif fid == ps.ID_PsInverterStatus:
            self.v_ac = v["AcVoltageRms"]
            self.i_ac = v["AcCurrentRms"]
            self.f_ac = v["AcFrequency"]
            self.p_ac = v["AcActivePower"]
            self.t_inv = now
        elif fid == ps.ID_PsTemperatures:
            t = v["TempDcDcPrimary"]
            for k in ("TempDcDcSecondary", "TempTransformer", "TempInverterBridge", "TempAcFilter"):
                if v[k] > t:
                    t = v[k]
            self.temp_c = t
            self.t_temp = now

    def _fresh(self, t, now):
        return t >= 0 and now - t <= _STALE_MS

    # ------------------------------------------------------------ loop
    def budget(self, now):
        """Deliverable AC power now (W) and the reason it is zero, if it is."""
        p = float(self.max_power_w)
        if PROFILE_MAX_W[self.profile] < p:
            p = float(PROFILE_MAX_W[self.profile])
        if self.car_max_p > 0 and self.car_max_p * DCDC_EFF_EST < p:
            p = self.car_max_p * DCDC_EFF_EST
        if not self._fresh(self.t_dcdc, now) or self.v_in <= 0:
            return 0.0, "no fresh inlet measurement"
        if self.car_max_i <= 0:
            return 0.0, "car discharge current limit unknown"
        p_car = self.car_max_i * self.v_in * DCDC_EFF_EST
        if p_car < p:
            p = p_car
        if self.soc < 0:
            return 0.0, "car SoC unknown"
        head = self.soc - self.soc_floor
        if head <= 0:
            return 0.0, "SoC floor reached"
        if head < SOC_TAPER_PCT:
            p = p * head / SOC_TAPER_PCT
        if self.t_temp < 0 or now - self.t_temp > _TEMP_STALE_MS:    # temperatures come at 10 Hz
            return 0.0, "no fresh temperature"
        d = PR.derate(self.temp_c)
        if d <= 0:
            return 0.0, "over temperature"
        return p * d, ""

    def tick(self, now, running):
        """One supervisory step. `running`: the output is on (relay closed,
        stage running). Updates self.inv / self.dcdc and the energy counters."""
        dt = 0.0 if self._t_last < 0 else (now - self._t_last) / 1000.0
        self._t_last = now
        self.running = running
        v_nom = PROFILE_V[self.profile]
        p, why = self.budget(now)
        self.budget_w = p
        self.stop_reason = why
        # RMS trim, only on a fresh measurement of a running output
        if running and self._fresh(self.t_inv, now) and self.v_ac > 0.5 * v_nom:
            self.trim += TRIM_GAIN_PER_S * (v_nom - self.v_ac) * dt
            lim = v_nom * TRIM_MAX_PCT / 100.0
            if self.trim > lim:
                self.trim = lim
            elif self.trim < -lim:
                self.trim = -lim
        on = running or p > 0
        self.v_set = v_nom + self.trim if on else 0.0
        self.i_ac_limit = p / v_nom
        inv = self.inv
        inv["AcVoltageSetpoint"] = _clamp(self.v_set, 264.0)
        inv["AcFrequencySetpoint"] = PROFILE_HZ[self.profile]
        inv["AcCurrentLimit"] = self.i_ac_limit if self.i_ac_limit < 63.0 else 63.0
        inv["SoftStartRamp"] = SOFT_START_MS
        dc = self.dcdc
        p_in = p / DCDC_EFF_EST
        dc["PowerLimit"] = _clamp(p_in, 15000.0)             # power_stage.dbc ranges
        i_in = p_in / self.v_in if self.v_in > 0 else 0.0
        if i_in > self.car_max_i:
            i_in = self.car_max_i
        dc["InletCurrentLimit"] = _clamp(i_in, 300.0)
        # a minimum the frame cannot carry stops the draw (the inlet never gets there)
        dc["InletVoltageMin"] = _clamp(self.car_min_v + INLET_V_MARGIN if self.car_min_v > 0 else 0.0, 1000.0)
        dc["DcLinkVoltageSetpoint"] = 420.0
        # energy
        if dt > 0:
            if self._fresh(self.t_dcdc, now):
                self.e_car_wh += self.v_in * self.i_in * dt / 3600.0
            if self._fresh(self.t_inv, now) and self.p_ac > 0:
                self.e_ac_wh += self.p_ac * dt / 3600.0

    def losses_wh(self):
        return self.e_car_wh - self.e_ac_wh

    def outlet_offer(self):
        """J1772 outlet mode (V2V, box drives the pilot): (pwm_on, duty_pm,
        state_f) for exactly the current the budget delivers, never above the
        cable/socket rating. For the safety supervisor's Cmd (cp_pwm_on,
        cp_duty_pm, cp_state_f): the supervisor decides."""
        a = self.i_ac_limit
        if self.cable_a > 0 and a > self.cable_a:
            a = float(self.cable_a)
        amps = int(a)                       # round down: never offer more than we have
        if amps < MIN_OFFER_A:
            return False, 0, self.stop_reason != ""
        return True, j1772_duty_pm(amps), False

    def frames(self):
        """(id, payload) of the two setpoint frames, generated codecs."""
        return [(ps.ID_PsDcDcSetpoint, ps.encode(ps.ID_PsDcDcSetpoint, self.dcdc)),
                (ps.ID_PsInverterSetpoint, ps.encode(ps.ID_PsInverterSetpoint, self.inv))]
