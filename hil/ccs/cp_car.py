"""A car at the control-pilot level: the pilot circuit physics, not a script.

EVSE side: +-12 V through 1 kOhm (the box's pilot request). Car side: a
diode then R2 = 2.74 kOhm (state B) with R3 = 1.3 kOhm switched in for C
(270 Ohm for D) to PE (j1772-mode2.md section 1). `plateaus(request)` gives
the high and low plateau voltages the box's ADC would read, in mV:

    high = Vd + R * (12 - Vd) / (1000 + R)      (diode conducting)
    low  = -12 V (diode blocks)  or  -12 * R / (1000 + R) with a shorted diode

Faults: shorted diode, pilot shorted to PE (0 V), open pilot (A), noise.
`DcCar` adds the DIN 70121 DC sequence's pilot moves: B at plug-in, C after
ChargeParameterDiscovery, B after PowerDelivery(stop) (pyPLC readme).
"""
import random

R_SOURCE = 1000.0
R2 = 2740.0
R3_C = 1300.0
R3_D = 270.0
V_DIODE = 0.7


def _par(a, b):
    return a * b / (a + b)


class CpCar:
    def __init__(self, seed=0, noise_mv=0):
        self.plugged = False
        self.s2 = None            # None = B, "C" or "D"
        self.diode_short = False
        self.pe_short = False
        self.noise_mv = noise_mv
        self.rnd = random.Random(seed)

    def load_ohm(self):
        if not self.plugged:
            return None
        if self.s2 == "C":
            return _par(R2, R3_C)
        if self.s2 == "D":
            return _par(R2, R3_D)
        return R2

    def plateaus(self, pwm_on, duty_pm, state_f):
        """(high_mv, low_mv or None) as sampled by the box."""
        if state_f:
            v = -12.0
            return self._n(v * 1000), self._n(v * 1000)
        if self.pe_short:
            return self._n(0), (self._n(0) if pwm_on else None)
        r = self.load_ohm()
        if r is None:
            high = 12.0
        else:
            high = V_DIODE + r * (12.0 - V_DIODE) / (R_SOURCE + r)
        if not pwm_on:
            return self._n(high * 1000), None
        if r is not None and self.diode_short:
            low = -12.0 * r / (R_SOURCE + r)
        else:
            low = -12.0
        return self._n(high * 1000), self._n(low * 1000)

    def _n(self, mv):
        if self.noise_mv:
            mv += self.rnd.uniform(-self.noise_mv, self.noise_mv)
        return int(mv)


class DcCar(CpCar):
    """The pilot moves of a DIN 70121 DC session, driven by the test's script."""

    def plug_in(self):
        self.plugged = True
        self.s2 = None

    def charge_parameter_discovery_done(self):
        self.s2 = "C"             # B -> C before CableCheck

    def power_delivery_stop(self):
        self.s2 = None            # C -> B before WeldingDetection

    def unplug(self):
        self.plugged = False
        self.s2 = None


def run(cp, car, t0, t1, step_ms=10, log=None):
    """Sample the pilot every step_ms from t0 to t1 (simulated ms)."""
    t = t0
    while t < t1:
        pwm, duty, f = cp.request()
        hi, lo = car.plateaus(pwm, duty, f)
        cp.sample(hi, lo, t)
        if log is not None:
            for e in cp.events():
                log.append(e)
        t += step_ms
    return t
