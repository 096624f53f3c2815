"""`make bench` provider: inverter figures from the switching-level simulation
(inverter/plant, real fast control law) at 3.6 kW, 230 V/50 Hz and
120/240 V/60 Hz split phase, plus the supervisory tick inside MicroPython.

Each headline metric is the worse of the two profiles; per-profile values
carry a suffix (.230v50hz, .split120_240v60hz). Waveform plots of every case
go to build/inverter/*.png with build/inverter/report.md linking them.
"""
import math
import os
import time

import numpy as np

import common  # bench/common.py

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(common.ROOT, "build", "inverter")

PROFILES = (("230_50", "230v50hz"), ("split_120_240", "split120_240v60hz"))
P_W = 3600.0


def _imports():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from inverter import params as HW
    from inverter.controller import fastloop as FL
    from inverter.plant import analysis as A
    from inverter.plant import kernel as KN
    from inverter.plant import loads as LD
    from inverter.plant import switching as S
    return plt, HW, FL, A, KN, LD, S


def _resistive(LD, sim, frac, t_on=0.0, t_off=float("inf")):
    if frac <= 0:
        return []
    if sim.nph == 1:
        return [LD.Resistive(P_W * frac, sim.v_nom).at(0, t_on, t_off)]
    return [LD.Resistive(P_W * frac / 2, sim.v_nom).at(p, t_on, t_off) for p in (0, 1)]


def _plot(plt, path, title, tr, t0, t1, nph, extra=None):
    m = (tr.t >= t0) & (tr.t <= t1)
    fig, ax = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for p in range(nph):
        ax[0].plot(tr.t[m] * 1000, tr.vc[m, p], lw=0.9, label="v L%d" % (p + 1))
        ax[1].plot(tr.t[m] * 1000, tr.io[m, p], lw=0.9, label="i_load L%d" % (p + 1))
    ax[0].set_ylabel("V")
    ax[1].set_ylabel("A")
    ax[1].set_xlabel("t (ms)")
    ax[0].set_title(title)
    if extra is not None:
        extra(ax)
    for a in ax:
        a.grid(True, alpha=0.3)
        a.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_profile(prof, tag, plots):
    plt, HW, FL, A, KN, LD, S = _imports()
    res = {}

    def sim_(averaged=False, **kw):
        return S.InverterSim(prof, averaged=averaged, ramp_ms=50, **kw)

    def thd(sim, tr):
        return max(A.thd_pct(tr.vc[:, p], tr.fs, sim.f_nom) for p in range(sim.nph))

    # warm-up: the numba kernel compiles (or loads its cache) on first use
    sim_().run(0.002)
    sim_(averaged=True).run(0.002)
    # linear: full resistive load (also efficiency, frequency, speed). Speed is
    # simulated time over this process's CPU time (the machine is shared).
    sim = sim_()
    sim.add(*_resistive(LD, sim, 1.0))
    w0 = time.process_time()
    tr = sim.run(0.3)
    e0 = sim.energy()
    tr2 = sim.run(0.2)
    wall = time.process_time() - w0
    res["thd_linear_pct"] = thd(sim, tr2)
    e = {k: v - e0[k] for k, v in sim.energy().items()}
    res["efficiency_pct"] = 100.0 * e["to_loads"] / e["from_car"]
    res["loss_w"] = {k: v / 0.2 for k, v in e.items() if k not in ("from_car", "to_loads")}
    res["frequency_error_hz"] = abs(A.frequency_hz(tr2.t, tr2.vc[:, 0]) - sim.f_nom)
    res["sim_speed_switching"] = 0.5 / wall
    p = os.path.join(OUT, "linear_%s.png" % tag)
    _plot(plt, p, "%s full resistive load %.1f kW: THD %.2f %%" % (tag, P_W / 1000, res["thd_linear_pct"]),
          tr2, tr2.t[-1] - 3.0 / sim.f_nom, tr2.t[-1], sim.nph)
    plots.append(("Linear load THD, efficiency, frequency (%s)" % tag, p))
    # the same case averaged: speed
    sa = sim_(averaged=True)
    sa.add(*_resistive(LD, sa, 1.0))
    w0 = time.process_time()
    sa.run(0.5)
    res["sim_speed_averaged"] = 0.5 / (time.process_time() - w0)

    # IEC 62040-3 reference non-linear load
    sim = sim_()
    if sim.nph == 1:
        sim.add(LD.iec62040_reference(sim.v_nom, P_W, sim.f_nom))
    else:
        sim.add(*[LD.iec62040_reference(sim.v_nom, P_W / 2, sim.f_nom).at(q) for q in (0, 1)])
    tr = sim.run(0.7)
    res["thd_nonlinear_pct"] = thd(sim, tr)
    p = os.path.join(OUT, "nonlinear_%s.png" % tag)
    _plot(plt, p, "%s IEC 62040-3 reference non-linear load: THD %.2f %%" % (tag, res["thd_nonlinear_pct"]),
          tr, tr.t[-1] - 3.0 / sim.f_nom, tr.t[-1], sim.nph)
    plots.append(("Non-linear load THD (%s)" % tag, p))

    # regulation, 0..100 % resistive
    worst = 0.0
    pts = []
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        sim = sim_()
        sim.add(*_resistive(LD, sim, frac))
        tr = sim.run(0.3)
        for q in range(sim.nph):
            v = A.rms(A.window(tr.vc[:, q], tr.fs, sim.f_nom, 5))
            err = 100.0 * (v - sim.v_nom) / sim.v_nom
            pts.append((frac * 100, err))
            worst = max(worst, abs(err))
    res["regulation_pct"] = worst
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([x for x, _ in pts], [y for _, y in pts], "o")
    ax.axhline(1.0, color="r", lw=0.8)
    ax.axhline(-1.0, color="r", lw=0.8)
    ax.set_xlabel("load (%)")
    ax.set_ylabel("RMS error (%)")
    ax.set_title("%s regulation: worst %.2f %%" % (tag, worst))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    p = os.path.join(OUT, "regulation_%s.png" % tag)
    fig.savefig(p, dpi=90)
    plt.close(fig)
    plots.append(("Regulation 0-100 %% (%s)" % tag, p))

    # load steps 0 -> 100 -> 0 %
    sim = sim_()
    sim.add(*_resistive(LD, sim, 1.0, 0.2, 0.35))
    tr = sim.run(0.5)
    up = A.step_response(tr.t, tr.vc[:, 0], sim.f_nom, sim.v_nom, 0.2, 0.35)
    dn = A.step_response(tr.t, tr.vc[:, 0], sim.f_nom, sim.v_nom, 0.35, 0.5)
    res["step_recovery_cycles"] = max(up[1], dn[1])
    res["step_peak_deviation_pct"] = max(up[0], dn[0])
    for name, t0 in (("up", 0.2), ("down", 0.35)):
        p = os.path.join(OUT, "step_%s_%s.png" % (name, tag))
        _plot(plt, p, "%s load step %s at %.0f ms: peak dev %.1f %%, recovery %.2f cycles" % (
            tag, "0->100 %" if name == "up" else "100->0 %", t0 * 1000, (up if name == "up" else dn)[0],
            (up if name == "up" else dn)[1]), tr, t0 - 1.0 / sim.f_nom, t0 + 2.0 / sim.f_nom, sim.nph,
            extra=lambda ax, t0=t0: ax[0].axvline(t0 * 1000, color="k", lw=0.6))
        plots.append(("Load step %s (%s)" % (name, tag), p))

    # bolted short circuit (50 mOhm) on L1 at the voltage peak
    sim = sim_(retry_s=30.0)
    sim.add(*_resistive(LD, sim, 1.0))
    t_sc = 0.2 + 0.25 / sim.f_nom
    sim.add(LD.Resistive(sim.v_nom ** 2 / 0.05, sim.v_nom).at(0, t_sc, 0.5))
    sim.run(0.2)
    sim.acc[KN.A_I_PEAK] = 0.0
    tr = sim.run(0.1)
    res["sc_peak_current_a"] = float(sim.acc[KN.A_I_PEAK])
    lat = np.nonzero(tr.state == FL.INV_SC_LATCH)[0]
    res["sc_latch_ms"] = float((tr.t[lat[0]] - t_sc) * 1000) if len(lat) else float("nan")
    p = os.path.join(OUT, "short_circuit_%s.png" % tag)

    def _il(ax, tr=tr):
        m = (tr.t >= t_sc - 0.01) & (tr.t <= t_sc + 0.06)
        ax[1].plot(tr.t[m] * 1000, tr.il[m, 0], lw=0.8, label="i_L L1")
        ax[1].axhline(HW.I_HW_TRIP_A, color="r", lw=0.6)
    _plot(plt, p, "%s short circuit: peak %.1f A, latched after %.1f ms" % (
        tag, res["sc_peak_current_a"], res["sc_latch_ms"]), tr, t_sc - 0.01, t_sc + 0.06, sim.nph, extra=_il)
    plots.append(("Short circuit (%s)" % tag, p))
    return res


HEAD = ("thd_linear_pct", "thd_nonlinear_pct", "regulation_pct", "step_recovery_cycles",
        "step_peak_deviation_pct", "frequency_error_hz", "sc_peak_current_a", "efficiency_pct")
UNITS = {"thd_linear_pct": "%", "thd_nonlinear_pct": "%", "regulation_pct": "%", "step_recovery_cycles": "cycles",
         "step_peak_deviation_pct": "%", "frequency_error_hz": "Hz", "sc_peak_current_a": "A",
         "efficiency_pct": "%"}
TARGET = {"thd_linear_pct": "<= 1.0", "thd_nonlinear_pct": "<= 3.0", "regulation_pct": "<= 1.0",
          "step_recovery_cycles": "<= 1"}


def collect():
    os.makedirs(OUT, exist_ok=True)
    plots = []
    per = {tag: run_profile(prof, tag, plots) for prof, tag in PROFILES}
    out = {}
    for k in HEAD:
        vals = [per[tag][k] for _p, tag in PROFILES]
        worst = min(vals) if k == "efficiency_pct" else max(vals)
        nd = 6 if k == "frequency_error_hz" else 3
        out["inverter." + k] = {"value": round(worst, nd), "unit": UNITS[k]}
        for _p, tag in PROFILES:
            out["inverter.%s.%s" % (k, tag)] = {"value": round(per[tag][k], nd), "unit": UNITS[k]}
    for kind in ("switching", "averaged"):
        v = min(per[tag]["sim_speed_" + kind] for _p, tag in PROFILES)
        out["inverter.sim_speed_vs_realtime.%s" % kind] = {"value": round(v, 3), "unit": "x"}
    m = common.run_micropython(os.path.join(HERE, "inverter_tick.py"))
    c = common.run_cpython(os.path.join(HERE, "inverter_tick.py"))
    out["inverter.supervisor_tick_us.micropython"] = {"value": round(m["tick_us"], 2), "unit": "us"}
    out["inverter.supervisor_tick_us.cpython"] = {"value": round(c["tick_us"], 3), "unit": "us"}
    out["inverter.supervisor_heap_per_tick_bytes.micropython"] = {"value": round(m["heap_per_tick_bytes"], 1),
                                                                  "unit": "B"}
    _report(out, per, plots)
    return out


def _report(out, per, plots):
    from inverter import params as HW
    lines = ["# Inverter bench report", "",
             "Switching-level simulation (inverter/plant, carrier-comparison PWM at %d kHz with %d ns dead time, "
             "real fast control law inverter/controller/fastloop.py) at %.1f kW. Generated by `make bench` "
             "(bench/inverter_bench.py)." % (HW.FS_HZ // 1000, int(HW.DEAD_TIME_S * 1e9), P_W / 1000), "",
             "| metric | 230 V / 50 Hz | 120/240 V / 60 Hz split | worst | target |", "|---|---|---|---|---|"]
    for k in HEAD:
        lines.append("| inverter.%s (%s) | %.4g | %.4g | %.4g | %s |" % (
            k, UNITS[k], per["230v50hz"][k], per["split120_240v60hz"][k], out["inverter." + k]["value"],
            TARGET.get(k, "-")))
    for kind in ("switching", "averaged"):
        lines.append("| inverter.sim_speed_vs_realtime.%s (x) | %.2f | %.2f | %.2f | - |" % (
            kind, per["230v50hz"]["sim_speed_" + kind], per["split120_240v60hz"]["sim_speed_" + kind],
            out["inverter.sim_speed_vs_realtime." + kind]["value"]))
    lines.append("| inverter.supervisor_tick_us.micropython (us) | | | %.1f | - |"
                 % out["inverter.supervisor_tick_us.micropython"]["value"])
    lines += ["", "Losses at full load (W), from the loss model (inverter/params.py: datasheet-class 650 V SiC "
              "MOSFET Rds(on) and Eon+Eoff, inductor ESR and core loss, isolated DC/DC P0 + k1 P + R I^2, "
              "auxiliary supply; team assumptions to be replaced by the chosen parts' datasheets):", ""]
    for _p, tag in PROFILES:
        lines.append("- %s: " % tag + ", ".join("%s %.1f" % (k, v) for k, v in per[tag]["loss_w"].items()))
    import io
    from inverter.design import design as D
    buf = io.StringIO()
    D.print_report(D.run()[1], out=buf)
    lines += ["", "Loop margins of the checked-in design (`python -m inverter.design.design`):", "", "```",
              buf.getvalue().rstrip(), "```"]
    lines += ["", "Short circuit latched after: " + ", ".join(
        "%s %.1f ms" % (tag, per[tag]["sc_latch_ms"]) for _p, tag in PROFILES), "", "## Plots", ""]
    for title, path in plots:
        lines.append("- [%s](%s)" % (title, os.path.basename(path)))
    with open(os.path.join(OUT, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    import json
    print(json.dumps(collect(), indent=1))
