"""The inverter's fast control law: the per-sample step that the power-stage
controller runs at FS_HZ, here as the Python reference the switching-level
simulation executes (the coefficient-set consumer; MicroPython rules).

Per phase (inverter-and-v2l-targets.md §4, TI TIDM-HV-1PH-DCAC structure):
    e     = v_ref - v_c
    i_ref = KPV*e + sum_h R_h(e) + i_o + C_FF*dv_ref/dt     (PR + 3..11 + load and
                                                              capacitor feed-forward)
    i_ref clamped to +-i_pk (current limit; back-calculation anti-windup)
    u     = KPI*(i_ref - i_L) + v_c                         (inner loop + voltage FF)
    duty  = u / v_bus, measured every sample, clamped +-0.98   (duty normalisation)
where v_bus is the DC link (full bridge, unipolar PWM) or half of it (one
half-bridge leg per phase against the link midpoint: the 120/240 V split).

Around it, per fundamental cycle: RMS of v/i/p, soft start (amplitude ramp
from a zero crossing), voltage foldback while the current limit holds,
short-circuit latch with auto-retry, the overload ladder and temperature
derating (inverter/controller/protection.py).
"""
import math

from micropython import const

from inverter.controller import coeffs as K
from inverter.controller import protection as PR

INV_OFF = const(0)
INV_SOFT_START = const(1)
INV_RUN = const(2)
INV_SC_LATCH = const(3)      # short circuit: gates off, auto-retry pending
INV_LOCKOUT = const(4)       # short-circuit retries used up: needs a fault reset
INV_TRIP = const(5)          # overload ladder or over-temperature: needs a fault reset
STATE_NAMES = ("Off", "SoftStart", "Run", "ShortCircuitLatch", "Lockout", "Trip")

DUTY_MAX = 0.98             # TI code clamps +-0.98 (targets §4)
K_AW = 2.0                  # back-calculation gain, V of resonator input per A clamped (team)
SURGE_RATIO = 3.6           # peak current limit = SURGE_RATIO * rated rms: crest factor 3 loads (IEC 62040-3) pass
FOLD_PEAK_RATIO = 2.2       # peak limit while folded back: a sustained overload stays below 200 % rms
FOLD_STEP = 0.8             # voltage foldback per cycle spent in the current limit
FOLD_RECOVER = 0.1          # per cycle once out of the limit
FOLD_MIN = 0.02
SAT_FRACTION = 0.25         # share of a cycle at the peak limit that counts as "limited" (rectifier peaks stay below)
SC_V_RATIO = 0.15           # a cycle below 15 % of the set voltage while limited looks like a short (>~13x load)
SC_CYCLES = const(2)
V_BUS_MIN = 50.0
_TWO_PI = 2.0 * math.pi
_SQRT2 = math.sqrt(2.0)


class PhaseLoop:
    """Voltage PR+HC and inner current loop of one phase."""

    def __init__(self, res):
        n = len(res)
        self.n = n
        self.b0 = [0.0] * n
        self.b1 = [0.0] * n
        self.b2 = [0.0] * n
        self.a1 = [0.0] * n
        self.a2 = [0.0] * n
        self.z1 = [0.0] * n
        self.z2 = [0.0] * n
        self.aw = 0.0
        self.sat = False
        self.load(res)

    def load(self, res):
        for k in range(self.n):
            c = res[k]
            self.b0[k] = c[0]
            self.b1[k] = c[1]
            self.b2[k] = c[2]
            self.a1[k] = c[3]
            self.a2[k] = c[4]

    def reset(self):
        for k in range(self.n):
            self.z1[k] = 0.0
            self.z2[k] = 0.0
        self.aw = 0.0
        self.sat = False

    def step(self, vref, dvref, vc, il, io, ipk):
        e = vref - vc
        x = e - self.aw
        acc = K.KPV * e
        b0, b1, b2, a1, a2, z1, z2 = self.b0, self.b1, self.b2, self.a1, self.a2, self.z1, self.z2
        for k in range(self.n):        # transposed direct form II
            y = b0[k] * x + z1[k]
            z1[k] = b1[k] * x - a1[k] * y + z2[k]
            z2[k] = b2[k] * x - a2[k] * y
            acc += y
        iref = acc + io + K.C_FF * dvref
        if iref > ipk:
            self.aw = K_AW * (iref - ipk)
            iref = ipk
            self.sat = True
        elif iref < -ipk:
            self.aw = K_AW * (iref + ipk)
            iref = -ipk
            self.sat = True
        else:
            self.aw = 0.0
            self.sat = False
        return K.KPI * (iref - il) + vc


class InverterControl:
    """The power-stage controller's inverter part for one output: one phase
    (full bridge) or two (split phase, half-bridge legs at 180 deg)."""

    def __init__(self, nph=1, half_bridge=False, f_hz=50.0, v_rms=230.0, i_rated_rms=15.65,
                 ramp_ms=200, retry_s=PR.SC_RETRY_S):
        self.nph = nph
        self.bus_share = 0.5 if half_bridge else 1.0
        self.ts = 1.0 / K.FS_HZ
        self.loops = [PhaseLoop(K.RES[50]) for _ in range(nph)]
        self.duty = [0.0] * nph
        self.vref = [0.0] * nph
        self.gates = False
        self.state = INV_OFF
        self.f_hz = 0.0
        self.v_set = v_rms
        self.i_rated = i_rated_rms
        self.ramp_s = ramp_ms / 1000.0
        self.derate = 1.0
        self.temp_c = 25.0
        self.theta = 0.0
        self.amp = 0.0               # soft-start amplitude factor 0..1
        self.fold = 1.0              # voltage foldback factor
        self.t = 0.0
        self.overload = PR.Overload()
        self.sc = PR.ShortCircuitLatch(retry_s)
        self._sc_cycles = 0
        # per-cycle accumulators and results
        self._n = 0
        self._sv = [0.0] * nph
        self._si = [0.0] * nph
        self._sp = [0.0] * nph
        self._nsat = 0
        self._ntrip = 0
        self.v_rms = [0.0] * nph
        self.i_rms = [0.0] * nph
        self.p_w = [0.0] * nph
        self.cycles = 0
        self.set_output(v_rms, f_hz)

    # ------------------------------------------------------------ setpoints
    def set_output(self, v_rms, f_hz):
        if f_hz != self.f_hz:
            res = K.RES[60] if f_hz > 55.0 else K.RES[50]
            for lp in self.loops:
                lp.load(res)
            self.f_hz = f_hz
        self.v_set = v_rms

    def set_current_limit(self, i_rated_rms):
        self.i_rated = i_rated_rms

    def set_temperature(self, temp_c):
        self.temp_c = temp_c
        self.derate = PR.derate(temp_c)

    def enable(self, on):
        if on and self.state == INV_OFF:
            self._start()
        elif not on:
            self.state = INV_OFF
            self.gates = False
            self.overload.reset()
            self.sc.clear()

    def _start(self):
        self.state = INV_SOFT_START
        self.theta = 0.0                 # close the loop at a positive-going zero crossing
        self.amp = 0.0
        self.fold = 1.0
        self._sc_cycles = 0
        for lp in self.loops:
            lp.reset()
        self._clear_cycle()
        self.gates = True

    def _clear_cycle(self):
        self._n = 0
        self._nsat = 0
        self._ntrip = 0
        for p in range(self.nph):
            self._sv[p] = 0.0
            self._si[p] = 0.0
            self._sp[p] = 0.0

    # ------------------------------------------------------------ per sample
    def step(self, vc, il, io, vdc, hw_trip):
        """One control period. vc/il/io: per-phase sequences (V, A); vdc: DC
        link (V); hw_trip: the comparator cut the gates in the last period.
        Updates self.duty (applied from the next period) and self.gates."""
        self.t += self.ts
        st = self.state
        if st == INV_SC_LATCH:
            if self.sc.may_restart(self.t):
                self._start()
            else:
                return self._off()
        elif st != INV_SOFT_START and st != INV_RUN:
            return self._off()
        if vdc < V_BUS_MIN or self.derate <= 0.0:
            if self.derate <= 0.0:
                self.state = INV_TRIP
            return self._off()
        self.gates = True               # (again) after a dip of the link below V_BUS_MIN
        w = _TWO_PI * self.f_hz
        self.theta += w * self.ts
        wrapped = False
        if self.theta >= _TWO_PI:
            self.theta -= _TWO_PI
            wrapped = True
        if self.state == INV_SOFT_START:
            self.amp += self.ts / self.ramp_s if self.ramp_s > 0 else 1.0
            if self.amp >= 1.0:
                self.amp = 1.0
                self.state = INV_RUN
        a = self.v_set * _SQRT2 * self.amp * self.fold
        s = math.sin(self.theta)
        c = math.cos(self.theta)
        ipk = (SURGE_RATIO if self.fold >= 1.0 else FOLD_PEAK_RATIO) * self.i_rated * self.derate
        vbus = vdc * self.bus_share
        sat = False
        for p in range(self.nph):
            sign = 1.0 if p == 0 else -1.0
            vref = sign * a * s
            dvref = sign * a * w * c
            self.vref[p] = vref
            u = self.loops[p].step(vref, dvref, vc[p], il[p], io[p], ipk)
            d = u / vbus
            if d > DUTY_MAX:
                d = DUTY_MAX
            elif d < -DUTY_MAX:
                d = -DUTY_MAX
            self.duty[p] = d
            if self.loops[p].sat:
                sat = True
            self._sv[p] += vc[p] * vc[p]
            self._si[p] += io[p] * io[p]
            self._sp[p] += vc[p] * io[p]
        self._n += 1
        if sat:
            self._nsat += 1
        if hw_trip:
            self._ntrip += 1
        if wrapped:
            self._cycle_end()
        return self.duty

    def _off(self):
        self.gates = False
        for p in range(self.nph):
            self.duty[p] = 0.0
        return self.duty

    # ------------------------------------------------------------ per cycle
    def _cycle_end(self):
        n = self._n if self._n > 0 else 1
        irms_max = 0.0
        vrms_min = 1e9
        for p in range(self.nph):
            self.v_rms[p] = math.sqrt(self._sv[p] / n)
            self.i_rms[p] = math.sqrt(self._si[p] / n)
            self.p_w[p] = self._sp[p] / n
            if self.i_rms[p] > irms_max:
                irms_max = self.i_rms[p]
            if self.v_rms[p] < vrms_min:
                vrms_min = self.v_rms[p]
        self.cycles += 1
        limited = self._nsat > SAT_FRACTION * n or self._ntrip > 0
        # voltage foldback: hold the current at the limit with a lower, still
        # sinusoidal voltage instead of clipping the waveform
        if limited:
            self.fold *= FOLD_STEP
            if self.fold < FOLD_MIN:
                self.fold = FOLD_MIN
        else:
            self.fold += FOLD_RECOVER
            if self.fold > 1.0:
                self.fold = 1.0
        # short circuit: limited and the voltage collapsed, for SC_CYCLES cycles
        if limited and vrms_min < SC_V_RATIO * self.v_set * self.amp:
            self._sc_cycles += 1
        else:
            self._sc_cycles = 0
        if self._sc_cycles >= SC_CYCLES:
            self.sc.fault(self.t)
            self.state = INV_LOCKOUT if self.sc.lockout else INV_SC_LATCH
            self._off()
        elif self.i_rated > 0 and self.overload.update(irms_max / self.i_rated, 1.0 / self.f_hz):
            self.state = INV_TRIP
            self._off()
        self._clear_cycle()
