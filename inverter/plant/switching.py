"""Switching-level (and averaged) simulation of the box's power stage around
the real fast control law (inverter/controller/fastloop.py):

    car battery (OCV(SoC) + R) -> isolated DC/DC (link-voltage loop, losses)
    -> DC link capacitor (2f ripple) -> H-bridge / split-phase half-bridges
    with dead time -> LC filter per phase -> loads (inverter/plant/loads.py)

The controller samples at the start of each PWM period and its duty is
applied from the next period (one sample of computational delay). The
circuit between samples runs in the compiled kernel (inverter/plant/kernel.py).

    sim = InverterSim("230_50")
    sim.add(loads.Resistive(3600, 230))
    tr = sim.run(0.5)                       # Trace, sampled at fs
"""
import math
import time

import numpy as np

from inverter import params as HW
from inverter.controller import fastloop as FL
from inverter.plant import kernel as KN

# profile: (phases, half-bridge legs, V rms per phase, Hz)
PROFILES = {
    "230_50": (1, False, 230.0, 50.0),
    "120_60": (1, False, 120.0, 60.0),
    "split_120_240": (2, True, 120.0, 60.0),
}


class Battery:
    """Traction battery seen at the DC inlet: open-circuit voltage vs SoC
    (400 V-class NMC pack shape, 96s: 3.0-4.2 V/cell) and internal resistance."""
    SOC = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
    V_CELL = (3.00, 3.30, 3.45, 3.55, 3.62, 3.72, 3.88, 4.05, 4.18)

    def __init__(self, soc=0.6, cells=96, r_ohm=0.1, capacity_ah=180.0):
        self.soc, self.cells, self.r, self.cap_as = soc, cells, r_ohm, capacity_ah * 3600.0
        self.i = 0.0

    def ocv(self):
        return self.cells * float(np.interp(self.soc, self.SOC, self.V_CELL))

    def terminal_v(self, i=None):
        return self.ocv() - self.r * (self.i if i is None else i)

    def draw(self, i, dt):
        self.i = i
        self.soc -= i * dt / self.cap_as


class DcDc:
    """Isolated DC/DC, averaged: a PI loop (DCDC_BW_HZ, well below 2f) holds
    the DC link; losses P0 + k1*P + R_eq*I_in^2 (inverter/params.py)."""

    def __init__(self, v_ref=HW.V_LINK_NOM_V, i_in_limit=300.0, p_limit=15000.0):
        self.v_ref = v_ref
        self.i_in_limit = i_in_limit
        self.p_limit = p_limit
        w = 2 * math.pi * HW.DCDC_BW_HZ
        self.kp = w * HW.C_LINK_F * v_ref          # W per V
        self.ki = self.kp * w / 4.0
        self.integ = 0.0
        self.p_out = 0.0
        self.p_in = 0.0
        self.i_in = 0.0
        self.on = True

    def step(self, vdc, v_in_oc, r_src, dt):
        """Returns the current into the DC link; sets p_in/i_in at the inlet."""
        if not self.on or v_in_oc <= 50.0:
            self.p_out = self.p_in = self.i_in = 0.0
            self.integ = 0.0
            return 0.0
        e = self.v_ref - vdc
        p = self.kp * e + self.integ
        pmax = min(self.p_limit, self.i_in_limit * v_in_oc * 0.9)
        if p > pmax:
            p = pmax
        elif p < 0.0:
            p = 0.0
        else:
            self.integ += self.ki * e * dt
        if self.integ > pmax:
            self.integ = pmax
        elif self.integ < 0.0:
            self.integ = 0.0
        self.p_out = p
        # inlet: (r_src + R_eq) I^2 - V_oc I + (P + P0 + k1 P) = 0
        need = p + HW.DCDC_P0_W + HW.DCDC_K1 * p
        r = r_src + HW.DCDC_R_EQ_OHM
        disc = v_in_oc * v_in_oc - 4.0 * r * need
        if disc < 0.0:      # the source cannot deliver it: collapse to the maximum
            disc = 0.0
        self.i_in = (v_in_oc - math.sqrt(disc)) / (2.0 * r)
        self.p_in = v_in_oc * self.i_in - r_src * self.i_in * self.i_in
        return p / vdc if vdc > 1.0 else 0.0


class Trace:
    def __init__(self, n, nph, fs):
        self.fs = fs
        self.nph = nph
        self.t = np.zeros(n)
        self.vc = np.zeros((n, nph))
        self.il = np.zeros((n, nph))
        self.io = np.zeros((n, nph))
        self.vdc = np.zeros(n)
        self.duty = np.zeros((n, nph))
        self.state = np.zeros(n, dtype=np.int8)
        self.n = 0

    def trim(self):
        for k in ("t", "vc", "il", "io", "vdc", "duty", "state"):
            setattr(self, k, getattr(self, k)[: self.n])
        return self


class InverterSim:
    def __init__(self, profile="230_50", averaged=False, n_sub=None, battery=None, p_rated=HW.P_RATED_W,
                 ramp_ms=100, retry_s=30.0, v_link=HW.V_LINK_NOM_V, enable=True):
        nph, half, v, f = PROFILES[profile]
        self.profile = profile
        self.nph, self.half, self.v_nom, self.f_nom = nph, half, v, f
        self.averaged = averaged
        self.n_sub = n_sub or (4 if averaged else 100)
        self.ts = HW.TS_S
        self.i_rated = p_rated / (nph * v)
        self.ctl = FL.InverterControl(nph=nph, half_bridge=half, f_hz=f, v_rms=v, i_rated_rms=self.i_rated,
                                      ramp_ms=ramp_ms, retry_s=retry_s)
        self.battery = battery or Battery()
        self.dcdc = DcDc(v_ref=v_link)
        self.x = np.zeros(nph * KN.NX + 1)
        self.x[-1] = v_link                  # link precharged (the DC/DC soft-starts before the inverter)
        self.lp = np.zeros((nph, KN.LP_N))
        self.g12 = 0.0
        self.loads = []
        self.legst = np.zeros(2 * nph)
        self.dtl = np.zeros(2 * nph)
        self.acc = np.zeros(KN.A_N)
        self.rec_vc = np.zeros(nph)
        self.rec_il = np.zeros(nph)
        self.rec_io = np.zeros(nph)
        self.duty_applied = np.zeros(nph)
        self.trip = False
        self.t = 0.0
        self.e_dcdc_in = 0.0                 # J at the inlet (from the car)
        self.e_dcdc_out = 0.0                # J into the link
        self.e_core = 0.0                    # inductor core + aux, J
        self.load_every = max(1, int(round(1e-3 / self.ts)))   # loads re-evaluated every 1 ms
        self._k = 0
        self.wall_s = 0.0
        self.source = None                   # (ocv, r) override of the battery: an external inlet
        if enable:
            self.ctl.enable(True)

    def add(self, *loads):
        for ld in loads:
            self.loads.append(ld)
        self._update_loads()
        return self

    def _update_loads(self):
        lp = self.lp
        lp[:] = 0.0
        g12 = 0.0
        for ld in self.loads:
            if not ld.active(self.t):
                continue
            if ld.phase == "LL":
                g12 += ld.g_ll(self.t)
            else:
                ld.apply(lp[ld.phase], self.t)
        # a removed rectifier keeps its capacitor charge in x but draws nothing
        self.g12 = g12

    def run(self, duration_s, on_sample=None):
        n = int(round(duration_s / self.ts))
        tr = Trace(n, self.nph, 1.0 / self.ts)
        ctl, x, nph = self.ctl, self.x, self.nph
        vci = nph * KN.NX
        w0 = time.perf_counter()
        vc = [0.0] * nph
        il = [0.0] * nph
        io = [0.0] * nph
        ocv = self.battery.ocv()
        for k in range(n):
            if self._k % self.load_every == 0:
                self._update_loads()
                ocv = self.battery.ocv()          # SoC moves slowly: once per ms
            self._k += 1
            # sample (period start), control law, duty for the next period
            for p in range(nph):
                vc[p] = float(self.rec_vc[p])
                il[p] = float(self.rec_il[p])
                io[p] = float(self.rec_io[p])
            vdc = float(x[vci])
            duty = ctl.step(vc, il, io, vdc, self.trip)
            if self.source is None:
                i_dcdc = self.dcdc.step(vdc, ocv, self.battery.r, self.ts)
                self.battery.draw(self.dcdc.i_in, self.ts)
            else:
                i_dcdc = self.dcdc.step(vdc, self.source[0], self.source[1], self.ts)
            self.e_dcdc_in += self.dcdc.p_in * self.ts
            self.e_dcdc_out += self.dcdc.p_out * self.ts
            gates = ctl.gates
            self.trip = KN.period(x, self.lp, self.g12, self.duty_applied, gates, nph, self.half, self.averaged,
                                  self.n_sub, self.ts, self.t, HW.L_F_H, HW.R_L_OHM, HW.C_F_F, HW.C_LINK_F,
                                  HW.R_DS_ON_OHM, HW.E_SW_REF_J, HW.E_SW_REF_V, HW.E_SW_REF_A, HW.V_SD_V,
                                  HW.DEAD_TIME_S, HW.I_HW_TRIP_A, i_dcdc, self.legst, self.dtl, self.acc,
                                  self.rec_vc, self.rec_il, self.rec_io)
            for p in range(nph):
                self.duty_applied[p] = duty[p]
            if gates:
                self.e_core += nph * HW.L_CORE_LOSS_W * self.ts
            self.t += self.ts
            tr.t[k] = self.t
            tr.vc[k] = self.rec_vc
            tr.il[k] = self.rec_il
            tr.io[k] = self.rec_io
            tr.vdc[k] = x[vci]
            tr.duty[k] = self.duty_applied
            tr.state[k] = ctl.state
            tr.n = k + 1
            if on_sample is not None:
                on_sample(self, k)
        self.wall_s += time.perf_counter() - w0
        return tr

    # ------------------------------------------------------------ energy
    def energy(self):
        """Energy accounting since start (J): from the car, to the loads, losses
        by part. The inductor core loss and the auxiliary supply are constant
        losses that the model adds to the inlet energy rather than simulating."""
        a = self.acc
        e_out = a[KN.A_E_OUT]
        aux = HW.AUX_W * self.t
        return {
            "from_car": self.e_dcdc_in + aux + self.e_core,
            "to_loads": e_out,
            "dcdc_loss": self.e_dcdc_in - self.e_dcdc_out,
            "bridge_conduction": a[KN.A_COND],
            "bridge_switching": a[KN.A_SW],
            "inductor_copper": a[KN.A_LCU],
            "inductor_core": self.e_core,
            "aux": aux,
        }
