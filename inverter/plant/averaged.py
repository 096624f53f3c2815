"""The box's power path as one averaged model, for every bench rig.

Averaged: no switching, one step per millisecond of simulated time. The
switching-level model of issue 12 implements the same interface (the
`PowerPlant` contract below), so a rig can take either.

    battery (car)  OCV(SoC) - R_i * i, SoC integrated from OCV * i
       | car contactors (the car model decides)
    inlet node     bleeder (tau ~100 ms); the precharge / cable-check source
       |           reaches it through a diode while the contactors are open
    box contactors K+ / K- with aux contacts, 15 ms pull-in / drop-out
    DC link node   precharge source (2 A class, slews 1000 V/s), discharge
                   resistor (tau ~50 ms), leakage
    DC/DC          isolated, efficiency ETA_DCDC, follows the current limit at
                   100 A/s after a 200 ms soft start, draws STANDBY_A while enabled
    inverter       efficiency ETA_INV, AC relay, load, RCD, foreign source
    IMD            isolation resistance seen by the box (good / bad)

Interface (the PowerPlant contract):
    p = AveragedPlant(load_w=3000.0)
    u = PlantInputs()            # the box's outputs, set by the rig each step
    p.step_power(now_ms, u, car_closed, car_ocv_v, car_r_ohm)
  inputs  PlantInputs: k_pos, k_neg (contactor coils), src_on, src_v (the
          precharge / cable-check source and its setpoint), discharge (DC-link
          discharge resistor), ps_enable (enable line AND command), i_limit_a
          (the inlet current limit the stage follows), ac_relay, ac_v_set,
          ac_hz_set (the inverter's setpoints), lock (lock motor).
  state   v_inlet, v_link (V), i (A, out of the car), kp, kn (aux contacts),
          lock (lock feedback), ps_ready, v_ac (V rms), f_ac (Hz), p_ac (W into the load),
          iso_ohm, temp (degC).
  energy  e_batt_wh (chemical, OCV * i), e_inlet_wh (v_inlet * i),
          e_dc_wh (after the DC/DC), e_ac_wh (into the load), and
          losses_wh() = e_batt_wh - e_ac_wh.
  faults  welded, iso_bad, short, ps_fault, backfeed_v, rcd_trip,
          oc_offset, heating (set as attributes).

Host-only (numbers from docs/safety.md and hil tuning; "(team)" where no
source gives one). inverter/controller never imports this package.
"""

CONTACTOR_MS = 15               # pull-in / drop-out (team, typical EV contactor)
LOCK_MS = 50                    # lock motor travel (team)
SOURCE_V_PER_MS = 1.0           # precharge source slew, 1000 V/s (2 A into the link, docs/safety.md)
SOURCE_DIODE_V = 0.7            # the source's diode towards the open inlet (docs/safety.md)
LINK_DISCHARGE_PER_MS = 0.98    # DC-link discharge resistor, tau ~50 ms
LINK_LEAK_PER_MS = 0.9999       # leakage only
INLET_BLEED_PER_MS = 0.99       # inlet bleeder, tau ~100 ms
PS_RAMP_A_PER_MS = 0.1          # the stage follows its limit at 100 A/s
PS_SOFT_START_MS = 200
STANDBY_A = 0.3                 # the stage's own draw while enabled and not supplying (team)
SHORT_A = 60.0                  # current into a short behind the contactors
ETA_DCDC = 0.95                 # isolated DC/DC (inverter-and-v2l-targets: 94-96 %)
ETA_INV = 0.97                  # inverter bridge + filter (inverter-and-v2l-targets: 96-98 %)
ISO_GOOD_OHM = 2000000
ISO_BAD_OHM = 50000
AC_V_RMS = 230.0
HEATING_C_PER_MS = 0.04         # over-temperature injection: +40 degC/s
_MS_PER_H = 3600000.0


def toward(v, tgt, src, discharge):
    """One 1 ms step of a DC node's voltage: slewed by the precharge source
    when it drives the node, else decaying through the discharge resistor
    (or, slowly, through leakage)."""
    if src:
        if v < tgt:
            return min(tgt, v + SOURCE_V_PER_MS)
        return max(tgt, v - SOURCE_V_PER_MS)
    if discharge:
        return v * LINK_DISCHARGE_PER_MS
    return v * LINK_LEAK_PER_MS


class PlantInputs:
    """The box's outputs as the plant sees them (set by the rig every step)."""

    def __init__(self):
        self.k_pos = False
        self.k_neg = False
        self.src_on = False
        self.src_v = 0.0
        self.discharge = False
        self.ps_enable = False
        self.i_limit_a = 0.0
        self.ac_relay = False
        self.ac_v_set = AC_V_RMS     # inverter setpoint, V rms
        self.ac_hz_set = 50.0        # inverter setpoint, Hz
        self.lock = False
        # further inverter setpoints (PsInverterSetpoint), for plants that follow them
        # (inverter/plant/stage.py SwitchingPlant); 0 / None = the profile's own
        self.ac_i_limit = 0.0
        self.soft_start_ms = None


class Battery:
    """The car's traction battery: OCV linear in SoC around a known point,
    internal resistance, SoC integrated from the chemical energy OCV * i."""

    def __init__(self, v_at_soc=380.0, soc=72.0, capacity_kwh=40.0, r_ohm=0.1, volts_per_pct=1.2):
        self.soc = float(soc)
        self._soc0 = float(soc)
        self._v0 = float(v_at_soc)
        self.capacity_kwh = capacity_kwh
        self.r = r_ohm
        self.volts_per_pct = volts_per_pct

    def ocv(self):
        return self._v0 + self.volts_per_pct * (self.soc - self._soc0)

    def terminal_v(self, current_a=0.0):
        return self.ocv() - self.r * current_a

    def draw(self, current_a, dt_ms):
        """Discharge for dt_ms at current_a (A out of the pack)."""
        if current_a > 0 and dt_ms > 0:
            self.soc -= 100.0 * self.ocv() * current_a * dt_ms / 3.6e9 / self.capacity_kwh


class AveragedPlant:
    def __init__(self, load_w=3000.0):
        self.load_w = load_w
        self.v_inlet = 0.0
        self.v_link = 0.0
        self.i = 0.0
        self.v_ac = 0.0
        self.f_ac = 0.0
        self.ac_v_set = AC_V_RMS
        self.p_ac = 0.0
        self.temp = 25.0
        self.kp = self.kn = False
        self._kt = [-1, -1]
        self.lock = False
        self._lock_t = -1
        self.ps_on_t = -1
        self.ps_ready = False
        self.iso_ohm = ISO_GOOD_OHM
        # energy (Wh)
        self.e_batt_wh = 0.0
        self.e_inlet_wh = 0.0
        self.e_dc_wh = 0.0
        self.e_ac_wh = 0.0
        # fault injection
        self.welded = False
        self.iso_bad = False
        self.short = False
        self.ps_fault = False
        self.backfeed_v = 0.0
        self.rcd_trip = False
        self.oc_offset = 0.0
        self.heating = False

    def losses_wh(self):
        return self.e_batt_wh - self.e_ac_wh

    def inverter_status(self, ac_on):
        """(AcVoltageRms, AcCurrentRms, AcFrequency, AcActivePower) as the power stage reports them."""
        v = self.ac_v_set if self.ac_v_set > 0 else AC_V_RMS
        return (v if ac_on else 0.0, min(abs(self.p_ac) / v, 100), self.f_ac if ac_on else 0.0, self.p_ac)

    def _contactors(self, now, u):
        for n, want in ((0, bool(u.k_pos)), (1, bool(u.k_neg))):
            have = self.kp if n == 0 else self.kn
            if have == want:
                self._kt[n] = -1
                continue
            if self._kt[n] < 0:
                self._kt[n] = now
            elif now - self._kt[n] >= CONTACTOR_MS and not (n == 0 and self.welded and not want):
                if n == 0:
                    self.kp = want
                else:
                    self.kn = want
                self._kt[n] = -1
        lock = bool(u.lock)
        if lock == self.lock:
            self._lock_t = -1
        elif self._lock_t < 0:
            self._lock_t = now
        elif now - self._lock_t >= LOCK_MS:
            self.lock = lock
            self._lock_t = -1

    def step_power(self, now, u, car_closed, car_ocv_v, car_r_ohm):
        """One millisecond: contactors, stage current, DC nodes, AC output, energy."""
        self._contactors(now, u)
        path = self.kp and self.kn
        en = bool(u.ps_enable) and not self.short
        if en:
            if self.ps_on_t < 0:
                self.ps_on_t = now
        else:
            self.ps_on_t = -1
        ready = en and now - self.ps_on_t >= PS_SOFT_START_MS and not self.ps_fault
        self.ps_ready = ready
        relay = bool(u.ac_relay) and not self.rcd_trip
        live = path and car_closed
        # stage current (out of the car)
        if self.short and live:
            self.i = SHORT_A
        elif live and en:
            if relay and ready and self.v_inlet > 50:
                demand = self.load_w / (ETA_DCDC * ETA_INV * self.v_inlet)
            else:
                demand = STANDBY_A
            target = min(u.i_limit_a, demand) + self.oc_offset
            if self.i < target:
                self.i = min(target, self.i + PS_RAMP_A_PER_MS)
            else:
                self.i = max(target, self.i - PS_RAMP_A_PER_MS)
        elif live:
            self.i *= 0.5
            if self.i < 0.01:
                self.i = 0.0
        else:
            self.i = 0.0
        # DC nodes
        src = bool(u.src_on) and not self.short
        tgt = u.src_v
        if car_closed:
            self.v_inlet = car_ocv_v - car_r_ohm * self.i
        if path:
            if car_closed:
                self.v_link = self.v_inlet
            elif self.short:
                self.v_link = self.v_inlet = 0.0
            else:
                self.v_link = self.v_inlet = toward(self.v_link, tgt, src, u.discharge)
        else:
            self.v_link = 0.0 if self.short else toward(self.v_link, tgt, src, u.discharge)
            if not car_closed:
                bled = self.v_inlet * INLET_BLEED_PER_MS
                if bled < 0.5:
                    bled = 0.0
                # the source reaches the open inlet through its diode
                fed = self.v_link - SOURCE_DIODE_V if src else 0.0
                self.v_inlet = fed if fed > bled else bled
        # AC output
        p_dc = self.i * self.v_inlet * ETA_DCDC if live else 0.0
        if relay and self.backfeed_v > 0:
            self.v_ac, self.p_ac = self.backfeed_v, -1500.0
        elif relay and ready:
            self.v_ac = u.ac_v_set
            p = p_dc * ETA_INV
            self.p_ac = self.load_w if p > self.load_w else p
        else:
            self.v_ac, self.p_ac = self.backfeed_v, 0.0
        self.f_ac = u.ac_hz_set if ready else 0.0
        self.ac_v_set = u.ac_v_set   # the setpoint the status reports
        # IMD, temperature
        self.iso_ohm = ISO_BAD_OHM if self.iso_bad else ISO_GOOD_OHM
        if self.heating:
            self.temp += HEATING_C_PER_MS
        # energy, one millisecond
        if live and self.i > 0:
            self.e_batt_wh += car_ocv_v * self.i / _MS_PER_H
            self.e_inlet_wh += self.v_inlet * self.i / _MS_PER_H
            self.e_dc_wh += p_dc / _MS_PER_H
        if self.p_ac > 0:
            self.e_ac_wh += self.p_ac / _MS_PER_H
