"""Compiled (numba) integration kernel of the inverter's power circuit for one
control period: carrier-comparison PWM with dead time, H-bridge or half-bridge
legs, per-phase LC filter, loads, DC-link capacitor.

Integration: fixed sub-step h = Ts / n_sub, semi-implicit Euler (inductor
currents first, then capacitor voltages). Within a sub-step the bridge leg
voltage is the exact average over the sub-step: the triangle carrier is
linear there, so the switching instant is found analytically and dead time
is accounted for as the time the leg spends at the voltage its current
forces through the body diode (motulator's CarrierComparison idea,
inverter-and-v2l-targets.md §7). The averaged model uses the same circuit
with the bridge replaced by its duty-cycle average (`averaged=True`).

State vector x (per phase p, stride NX):
    x[p*NX+0] iL      filter inductor current (out of the bridge), A
    x[p*NX+1] vc      filter capacitor = output voltage (to neutral), V
    x[p*NX+2] vr      rectifier-load DC capacitor voltage, V
    x[p*NX+3] im      motor (R-L) branch current, A
    x[NPH*NX] vdc     DC link, V
Load parameters lp[p, :]: see LP_* indices. Loss accumulators acc[:]: see A_*.
"""
import numpy as np
from numba import njit

NX = 4
LP_G = 0            # resistive conductance to neutral, S
LP_RM = 1           # motor branch resistance, Ohm
LP_LM = 2           # motor branch inductance, H (0 = absent)
LP_RS = 3           # rectifier series resistance, Ohm (0 = absent)
LP_G1 = 4           # rectifier DC load conductance, S
LP_CR = 5           # rectifier DC capacitor, F
LP_PCP = 6          # constant power drawn from the rectifier DC side, W (SMPS)
LP_N = 7

A_COND = 0          # bridge conduction energy, J
A_SW = 1            # switching energy, J
A_DIODE = 2         # (spare: dead-time diode conduction is counted in A_SW)
A_LCU = 3           # inductor copper, J
A_E_DC = 4          # energy taken from the DC link by the bridge, J
A_E_OUT = 5         # energy delivered to the loads, J
A_I_PEAK = 6        # largest |iL| seen, A
A_TRIP = 7          # sub-steps with the hardware comparator tripped
A_N = 8


@njit(cache=True)
def _frac_below(c0, c1, d):
    """Share of a sub-step in which a linear carrier c0 -> c1 is below d."""
    if c0 < d and c1 < d:
        return 1.0
    if c0 >= d and c1 >= d:
        return 0.0
    if c1 == c0:
        return 1.0 if c0 < d else 0.0
    x = (d - c0) / (c1 - c0)     # crossing position 0..1
    if c1 > c0:                  # rising carrier: below before the crossing
        return x
    return 1.0 - x


@njit(cache=True)
def _leg(c0, c1, d, dt_frac_left, i_out, prev_state, h_over_dt):
    """Average high-time of one leg over a sub-step, with dead time.
    Returns (high_fraction, new_state, dead_time_left_fraction_of_dt, switched)."""
    f = _frac_below(c0, c1, d)
    end_state = 1.0 if (c1 < d) else 0.0
    switched = 0.0
    dt_left = dt_frac_left
    diode = 1.0 if i_out < 0.0 else 0.0      # body diode the current forces
    # dead time carried over from the previous sub-step
    hi = f
    if dt_left > 0.0:
        ov = dt_left * (1.0 / h_over_dt)     # dead time as a share of this sub-step
        if ov > 1.0:
            ov = 1.0
        hi += (diode - prev_state) * ov if f == prev_state else 0.0
        dt_left -= h_over_dt * ov if ov < 1.0 else h_over_dt
        if dt_left < 0.0:
            dt_left = 0.0
    if 0.0 < f < 1.0 or end_state != prev_state:
        switched = 1.0
        # crossing at share x of the sub-step; the new state is reached only
        # after the dead time, the diode holds the leg meanwhile
        x = 1.0 - f if end_state == 1.0 else f
        rest = 1.0 - x
        ov = 1.0 / h_over_dt                 # dead time in sub-steps
        inside = ov if ov < rest else rest
        hi += (diode - end_state) * inside
        dt_left = (ov - inside) * h_over_dt
        if dt_left < 0.0:
            dt_left = 0.0
    if hi < 0.0:
        hi = 0.0
    elif hi > 1.0:
        hi = 1.0
    return hi, end_state, dt_left, switched


@njit(cache=True)
def period(x, lp, g12, duty, gates, nph, half_bridge, averaged, n_sub, ts, t0,
           lf, rl, cf, clink, rds, esw_ref, esw_v, esw_a, vsd, dead_t, i_trip, i_dcdc,
           legst, dtl, acc, rec_vc, rec_il, rec_io):
    """Advance one control period (duty held). legst/dtl: per-leg switch state
    and dead time left (fraction of dead_t), 2 legs per phase slot. rec_*:
    the period means (what the controller samples). Returns the trip flag."""
    h = ts / n_sub
    for p in range(nph):
        rec_vc[p] = 0.0
        rec_il[p] = 0.0
        rec_io[p] = 0.0
    h_over_dt = h / dead_t if dead_t > 0.0 else 1e9
    tripped = False
    vdc_i = nph * NX
    for k in range(n_sub):
        vdc = x[vdc_i]
        # triangle carrier in [-1, 1] with its peaks on period boundaries
        # (symmetric PWM; the sample is taken at the period start)
        s0 = k / n_sub
        s1 = (k + 1) / n_sub
        c0 = 4.0 * s0 - 1.0 if s0 < 0.5 else 3.0 - 4.0 * s0
        c1 = 4.0 * s1 - 1.0 if s1 < 0.5 else 3.0 - 4.0 * s1
        p_dc = 0.0
        p_sw = 0.0
        for p in range(nph):
            b = p * NX
            il = x[b]
            vc = x[b + 1]
            # --- bridge voltage (average over the sub-step)
            if not gates or tripped:
                # all switches off: diodes clamp the bridge to +-vdc against the current
                if half_bridge:
                    vbr = -0.5 * vdc if il > 0.0 else 0.5 * vdc
                else:
                    vbr = -vdc if il > 0.0 else vdc
                if abs(il) < 1e-3:
                    vbr = vc
                    il = 0.0
                    x[b] = 0.0
            elif averaged:
                vbr = duty[p] * vdc * (0.5 if half_bridge else 1.0)
            else:
                d = duty[p]
                if half_bridge:
                    ha, st, dl, sw = _leg(c0, c1, d, dtl[2 * p], il, legst[2 * p], h_over_dt)
                    legst[2 * p] = st
                    dtl[2 * p] = dl
                    vbr = (ha - 0.5) * vdc
                    if sw > 0.0:
                        e = esw_ref * (vdc / esw_v) * (abs(il) / esw_a) + vsd * abs(il) * dead_t
                        acc[A_SW] += e
                        p_sw += e / h
                else:
                    ha, st, dl, sw = _leg(c0, c1, d, dtl[2 * p], il, legst[2 * p], h_over_dt)
                    legst[2 * p] = st
                    dtl[2 * p] = dl
                    hb, st2, dl2, sw2 = _leg(c0, c1, -d, dtl[2 * p + 1], -il, legst[2 * p + 1], h_over_dt)
                    legst[2 * p + 1] = st2
                    dtl[2 * p + 1] = dl2
                    vbr = (ha - hb) * vdc
                    nsw = sw + sw2
                    if nsw > 0.0:
                        e = nsw * (esw_ref * (vdc / esw_v) * (abs(il) / esw_a) + vsd * abs(il) * dead_t)
                        acc[A_SW] += e
                        p_sw += e / h
            ndev = 1.0 if half_bridge else 2.0
            # --- load currents
            io = lp[p, LP_G] * vc
            if nph == 2:
                io += g12 * (vc - x[(1 - p) * NX + 1])
            if lp[p, LP_LM] > 0.0:
                im = x[b + 3]
                im += h / lp[p, LP_LM] * (vc - lp[p, LP_RM] * im)
                x[b + 3] = im
                io += im
            if lp[p, LP_RS] > 0.0:
                vr = x[b + 2]
                av = vc if vc >= 0.0 else -vc
                ir = 0.0
                if av > vr:
                    ir = (av - vr) / lp[p, LP_RS]
                pcp = lp[p, LP_PCP] / vr if vr > 20.0 else lp[p, LP_PCP] / 20.0
                vr += h / lp[p, LP_CR] * (ir - vr * lp[p, LP_G1] - pcp)
                if vr < 0.0:
                    vr = 0.0
                x[b + 2] = vr
                io += ir if vc >= 0.0 else -ir
            # --- filter
            if gates and not tripped or abs(il) > 0.0:
                vdrop = (rl + ndev * rds) * il
                il_new = il + h / lf * (vbr - vc - vdrop)
                if (not gates or tripped) and il_new * il < 0.0:
                    il_new = 0.0                      # diodes block the reversal
                il = il_new
            x[b] = il
            vc += h / cf * (il - io)
            x[b + 1] = vc
            acc[A_COND] += ndev * rds * il * il * h
            acc[A_LCU] += rl * il * il * h
            acc[A_E_OUT] += vc * io * h
            p_dc += vbr * il
            ail = abs(il)
            if ail > acc[A_I_PEAK]:
                acc[A_I_PEAK] = ail
            if ail > i_trip and gates:
                tripped = True                        # comparator -> PWM break, rest of the period
                acc[A_TRIP] += 1.0
            # the sensors' sinc filters average over the PWM period (TI's SDFM
            # front end, targets §4): the controller sees period means
            rec_io[p] += io / n_sub
            rec_vc[p] += vc / n_sub
            rec_il[p] += il / n_sub
        # --- DC link: the ideal bridge passes vbr*il (its devices' drop is the
        # series resistance above); switching and dead-time losses come on top
        p_dc += p_sw
        acc[A_E_DC] += p_dc * h
        if vdc > 1.0:
            x[vdc_i] = vdc + h / clink * (i_dcdc - p_dc / vdc)
    return tripped
