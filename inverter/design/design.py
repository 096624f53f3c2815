"""Gain design for the inverter's fast loops (CPython; python-control + scipy).

    python -m inverter.design.design            # writes inverter/controller/coeffs.py, prints margins
    python -m inverter.design.design --check     # exit 1 if the checked-in coefficient set is stale

Structure (inverter-and-v2l-targets.md §4, TI TIDM-HV-1PH-DCAC architecture):
  outer  proportional-resonant voltage controller at the fundamental plus
         resonators at the 3rd..11th harmonic, each phase-compensated for the
         plant's lag at its frequency (Yepes et al., IEEE TPEL 2010) and
         discretised with Tustin pre-warped at its own resonance;
  inner  proportional inductor-current loop with output-voltage and load-
         current feed-forward, one sample of computational delay, duty
         normalised by the measured DC link (so the loop is in volts and one
         coefficient set serves any bus voltage and both bridge types).
The plant for the design is the per-phase LC filter (inverter/params.py),
zero-order-hold discretised at fs, at no load and at rated resistive load.
Margins reported: current loop GM/PM, voltage loop GM/PM, modulus margin
(min |1+L|) and the largest closed-loop pole radius.
"""
import argparse
import warnings
import math
import os
import sys

import control
import numpy as np
from scipy.signal import cont2discrete

from inverter import params as P

HARMONICS = (1, 3, 5, 7, 9, 11)
FUNDAMENTALS = (50, 60)

# Design choices (team, from a THD-vs-margin sweep on the switching model). Current-loop
# crossover ~1.8 kHz keeps ~45 deg
# PM with ~2 samples of delay (computation + period-mean sensing); voltage P gain sets
# ~650 Hz bandwidth; the
# resonators' gain kr is the gain at resonance, wc their bandwidth.
KPI_V_PER_A = 11.0
KPV_A_PER_V = 0.06
KR = {1: 2.0, 3: 1.8, 5: 1.5, 7: 1.2, 9: 0.9, 11: 0.75}
WC_RAD_S = 12.0
V_RATED = {50: 230.0, 60: 240.0}   # per design case: the rated resistive load is P_RATED at this voltage

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "controller", "coeffs.py")


def plant_d(g_load):
    """ZOH-discretised LC filter, states [iL, vc], input bridge voltage u."""
    a = np.array([[-P.R_L_OHM / P.L_F_H, -1.0 / P.L_F_H], [1.0 / P.C_F_F, -g_load / P.C_F_F]])
    b = np.array([[1.0 / P.L_F_H], [0.0]])
    ad, bd, _, _, _ = cont2discrete((a, b, np.eye(2), np.zeros((2, 1))), P.TS_S, method="zoh")
    return ad, bd


def inner_closed(g_load, kpi):
    """From the outer loop's current reference r to the measured vc, inner
    loop closed: u[k+1] = kpi*(r + io - iL) + vc, io = g*vc, every measurement
    the mean over the last PWM period (sinc-filtered sensors), modelled as
    (x[k] + x[k-1]) / 2. States [iL, vc, u, iL[k-1], vc[k-1]]."""
    ad, bd = plant_d(g_load)
    az = np.zeros((5, 5))
    az[:2, :2] = ad
    az[:2, 2:3] = bd
    # u[k+1] from the measured means
    m_il = np.array([0.5, 0.0, 0.0, 0.5, 0.0])
    m_vc = np.array([0.0, 0.5, 0.0, 0.0, 0.5])
    az[2] = -kpi * m_il + (kpi * g_load + 1.0) * m_vc
    az[3, 0] = 1.0
    az[4, 1] = 1.0
    bz = np.array([[0.0], [0.0], [kpi], [0.0], [0.0]])
    return control.ss(az, bz, m_vc.reshape(1, 5), 0.0, P.TS_S)


def current_loop(kpi):
    """Loop gain of the inner loop broken at the controller output, the
    capacitor voltage taken as cancelled by its feed-forward: kpi * z^-1 *
    ZOH{1 / (sL + R)}."""
    a = np.array([[-P.R_L_OHM / P.L_F_H]])
    b = np.array([[1.0 / P.L_F_H]])
    ad, bd, _, _, _ = cont2discrete((a, b, np.eye(1), np.zeros((1, 1))), P.TS_S, method="zoh")
    az = np.array([[ad[0, 0], bd[0, 0]], [0.0, 0.0]])
    return control.ss(az, np.array([[0.0], [1.0]]), np.array([[kpi, 0.0]]), 0.0, P.TS_S)


def resonator(h, f0, kr, phi):
    """kr * 2wc (s cos(phi) - wh sin(phi)) / (s^2 + 2 wc s + wh^2), Tustin pre-warped at wh."""
    wh = 2 * math.pi * h * f0
    num = [2 * WC_RAD_S * kr * math.cos(phi), -2 * WC_RAD_S * kr * wh * math.sin(phi)]
    den = [1.0, 2 * WC_RAD_S, wh * wh]
    with warnings.catch_warnings():     # the tf form of one biquad is well conditioned
        warnings.simplefilter("ignore")
        rd = control.sample_system(control.tf(num, den), P.TS_S, method="bilinear", prewarp_frequency=wh)
    b = np.atleast_1d(np.squeeze(rd.num[0][0]))
    a = np.atleast_1d(np.squeeze(rd.den[0][0]))
    b = np.concatenate([np.zeros(3 - len(b)), b]) / a[0]
    a = a / a[0]
    return rd, [float(b[0]), float(b[1]), float(b[2]), float(a[1]), float(a[2])]


def margins(loop):
    """Margins from a dense frequency sweep up to Nyquist. With resonant peaks
    the loop crosses |L| = 1 several times, so the robust figure is the
    modulus margin MM = min |1 + L|, which guarantees GM >= 1/(1 - MM) and
    PM >= 2 asin(MM / 2); the classic PM is given at the bandwidth crossover
    (the highest |L| = 1 crossing)."""
    w = np.geomspace(2 * math.pi * 1.0, math.pi / P.TS_S * 0.999, 6000)
    resp = np.squeeze(loop(np.exp(1j * w * P.TS_S)))
    mag = np.abs(resp)
    mm = float(np.min(np.abs(1.0 + resp)))
    cross = np.nonzero((mag[:-1] >= 1.0) & (mag[1:] < 1.0))[0]
    if len(cross):
        k = cross[-1]
        wc = float(w[k])
        pm = float(180.0 + np.degrees(np.angle(resp[k])))
        pm = (pm + 180.0) % 360.0 - 180.0
    else:
        wc, pm = float("nan"), float("nan")
    return {"modulus_margin": mm, "gm_min_db": float(-20 * math.log10(1 - mm)) if mm < 1 else float("inf"),
            "pm_min_deg": float(math.degrees(2 * math.asin(min(mm, 2.0) / 2))),
            "wc_hz": wc / (2 * math.pi), "pm_deg": pm}


def design(f0):
    g_rated = P.P_RATED_W / V_RATED[f0] ** 2
    h0 = inner_closed(0.0, KPI_V_PER_A)
    res = []
    # state space throughout: a sum of six resonators as one polynomial is
    # too badly conditioned at fs = 20 kHz to find its poles
    gv = control.ss([], [], [], [[KPV_A_PER_V]], P.TS_S)
    for h in HARMONICS:
        wh = 2 * math.pi * h * f0
        ang = float(np.angle(np.squeeze(h0(np.exp(1j * wh * P.TS_S)))))
        # compensate the plant's lag beyond the capacitor's -90 deg (delay, inner
        # loop) at this harmonic (Yepes et al. 2010); a full -angle compensation
        # gives the fundamental's resonator a negative DC gain that the
        # integrating plant cannot take
        phi = -(ang + math.pi / 2)
        rd, c = resonator(h, f0, KR[h], phi)
        res.append((h, phi, c))
        gv = gv + control.ss(rd)
    report = {"f0": f0}
    worst = 0.0
    for name, g in (("no_load", 0.0), ("rated_R", g_rated)):
        li = current_loop(KPI_V_PER_A)
        lv = gv * inner_closed(g, KPI_V_PER_A)
        cl = control.feedback(lv, 1)
        rmax = float(np.max(np.abs(np.linalg.eigvals(cl.A))))
        worst = max(worst, rmax)
        report[name] = {"current": margins(li), "voltage": margins(lv), "pole_radius": rmax}
    report["stable"] = worst < 1.0
    return res, report


def render(designs):
    lines = [
        '"""Inverter fast-loop coefficient set. GENERATED by inverter/design/design.py; do not edit.',
        "",
        "Per fundamental (Hz): biquads [b0, b1, b2, a1, a2] of the voltage resonators",
        "at HARMONICS (Tustin, pre-warped at each resonance, phase-compensated).",
        '"""',
        "FS_HZ = %d" % P.FS_HZ,
        "KPI = %r" % KPI_V_PER_A,
        "KPV = %r" % KPV_A_PER_V,
        "C_FF = %r" % P.C_F_F,
        "HARMONICS = %r" % (HARMONICS,),
        "RES = {",
    ]
    for f0, (res, _rep) in designs:
        lines.append("    %d: (" % f0)
        for _h, _phi, c in res:
            lines.append("        (%s)," % ", ".join("%.12e" % x for x in c))
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run():
    designs = [(f0, design(f0)) for f0 in FUNDAMENTALS]
    return render(designs), [rep for _f, (_r, rep) in designs]


def print_report(reports, out=sys.stdout):
    for rep in reports:
        print("f0 = %d Hz   closed loop stable: %s" % (rep["f0"], rep["stable"]), file=out)
        for name in ("no_load", "rated_R"):
            r = rep[name]
            for loop in ("current", "voltage"):
                m = r[loop]
                print("  %-8s %-7s crossover %7.1f Hz  PM there %5.1f deg  modulus margin %.2f"
                      " (GM >= %.1f dB, PM >= %.1f deg)" % (
                          name, loop, m["wc_hz"], m["pm_deg"], m["modulus_margin"], m["gm_min_db"],
                          m["pm_min_deg"]), file=out)
            print("  %-8s max closed-loop pole radius %.4f" % (name, r["pole_radius"]), file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if %s is stale" % os.path.relpath(OUT))
    args = ap.parse_args(argv)
    text, reports = run()
    print_report(reports)
    if not all(r["stable"] for r in reports):
        print("design: closed loop UNSTABLE", file=sys.stderr)
        return 1
    if args.check:
        with open(OUT) as f:
            if f.read() != text:
                print("design: %s is stale; run python -m inverter.design.design" % OUT, file=sys.stderr)
                return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print("design: wrote %s" % OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
