"""AC loads for the inverter plant. Each load writes its circuit parameters
into the kernel's per-phase parameter row (inverter/plant/kernel.py LP_*)
for the current time; time-varying loads (motor start, Mode 2 charger ramp)
recompute them every call.

Phases: 0 = L1 (or the single-phase output), 1 = L2, LL = across L1-L2
(a 240 V appliance on a split-phase panel: resistive only).
"""
import math

from inverter.plant import kernel as KN

LL = "LL"


class Load:
    phase = 0
    t_on = 0.0
    t_off = float("inf")

    def at(self, phase=0, t_on=0.0, t_off=float("inf")):
        self.phase, self.t_on, self.t_off = phase, t_on, t_off
        return self

    def active(self, t):
        return self.t_on <= t < self.t_off

    def apply(self, row, t):       # pragma: no cover - interface
        raise NotImplementedError

    def g_ll(self, t):
        return 0.0


class Resistive(Load):
    """Linear load: p_w at v_rms (or across L1-L2 at the line-to-line voltage)."""

    def __init__(self, p_w, v_rms):
        self.g = p_w / (v_rms * v_rms)

    def apply(self, row, t):
        row[KN.LP_G] += self.g

    def g_ll(self, t):
        return self.g


class Rectifier(Load):
    """Diode bridge, series resistance, DC capacitor, DC load (R1 and/or a
    constant power). One rectifier slot per phase."""

    def __init__(self, rs, c, r1=None, p_const=0.0):
        self.rs, self.c, self.p_const = rs, c, p_const
        self.g1 = 0.0 if r1 is None else 1.0 / r1

    def apply(self, row, t):
        row[KN.LP_RS] = self.rs
        row[KN.LP_CR] = self.c
        row[KN.LP_G1] = self.g1
        row[KN.LP_PCP] = self.p_const


def iec62040_reference(v_rms, s_va, f_hz):
    """IEC 62040-3 reference non-linear load (targets §3.1): Uc = 1.22 U,
    Rs = 0.04 U^2/S, R1 = Uc^2/(0.66 S), C = 7.5/(f R1)."""
    uc = 1.22 * v_rms
    rs = 0.04 * v_rms * v_rms / s_va
    r1 = uc * uc / (0.66 * s_va)
    c = 7.5 / (f_hz * r1)
    return Rectifier(rs, c, r1=r1)


def smps(p_w, v_rms, c_per_w=1.0e-6, rs=None):
    """Constant-power switch-mode supply behind a capacitor-input rectifier
    (no PFC): ~1 uF/W bulk capacitance, NTC/track resistance ~3 % of U^2/P (team)."""
    if rs is None:
        rs = 0.03 * v_rms * v_rms / p_w
    return Rectifier(rs, c_per_w * p_w, p_const=p_w)


class Motor(Load):
    """Induction-motor start as an R-L branch whose impedance rises from the
    locked-rotor value (inrush x rated current, pf 0.4) to the running value
    (pf 0.8): held for t_start, then an exponential run-up (targets §2:
    5-7x inrush for ~100 ms)."""

    def __init__(self, p_w, v_rms, f_hz, inrush=6.0, t_start=0.1, pf_run=0.8, pf_lr=0.4):
        self.v, self.f, self.inrush, self.t_start = v_rms, f_hz, inrush, t_start
        self.z_run = v_rms * v_rms / (p_w / pf_run)
        self.pf_run, self.pf_lr = pf_run, pf_lr

    def ratio(self, t):
        dt = t - self.t_on
        if dt < self.t_start:
            return self.inrush
        return 1.0 + (self.inrush - 1.0) * math.exp(-(dt - self.t_start) / 0.03)

    def apply(self, row, t):
        k = self.ratio(t)
        x = (k - 1.0) / (self.inrush - 1.0) if self.inrush > 1.0 else 0.0
        pf = self.pf_run + (self.pf_lr - self.pf_run) * x
        z = self.z_run / k
        row[KN.LP_RM] = z * pf
        row[KN.LP_LM] = z * math.sqrt(1.0 - pf * pf) / (2 * math.pi * self.f)


class Mode2Charger(Load):
    """A Mode 2 portable EVSE feeding a second car's onboard charger: the
    IC-CPD closes its relay t_relay after plug-in (the car reaches state C),
    then the PFC onboard charger ramps its (unity-pf) current to the cable's
    set current over t_ramp (j1772-mode2.md §7 "Start-up")."""

    def __init__(self, i_set, v_rms, t_relay=0.5, t_ramp=2.0):
        self.i_set, self.v, self.t_relay, self.t_ramp = i_set, v_rms, t_relay, t_ramp

    def current(self, t):
        dt = t - self.t_on - self.t_relay
        if dt <= 0:
            return 0.0
        return self.i_set * min(1.0, dt / self.t_ramp)

    def apply(self, row, t):
        row[KN.LP_G] += self.current(t) / self.v


def panel_split(p_l1, p_l2, p_ll, v_phase=120.0):
    """Unbalanced split-phase home panel: L1-N and L2-N loads plus a 240 V load."""
    return [Resistive(p_l1, v_phase).at(0), Resistive(p_l2, v_phase).at(1),
            Resistive(p_ll, 2 * v_phase).at(LL)]
