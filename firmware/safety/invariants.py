"""The safety invariants, checked after every supervisor step.

This is a second, deliberately separate computation of the rules of issue
#5 (it does not reuse the supervisor's decision code). The supervisor runs
it as a final guard: any violation latches F_INVARIANT (lockout) and forces
every output off. The property tests call it too, next to their own
physical checks on the simulated plant.
"""
from micropython import const

from firmware.safety import faults as fl
from firmware.safety import limits as L

OK = const(0)
V_CLOSE_MISMATCH = const(1)    # contactor closed with sides > 20 V apart
V_OPEN_UNDER_LOAD = const(2)   # opened with > 2 A without an emergency trip
V_CURRENT_LIMIT = const(3)     # current limit above min(car, cable, fuse, config, box)
V_SOC_OR_VMIN = const(4)       # current granted at/below the SoC floor or min voltage
V_ISOLATION = const(5)         # current granted with isolation < 100 kOhm
V_ESTOP = const(6)             # anything energised while the E-stop is open
V_AC_CONDITIONS = const(7)     # AC on without bond/RCD/power stage as required
V_AC_BACKFEED = const(8)       # AC relay closed onto a live output
V_BOND_UNDER_LOAD = const(9)   # N-PE bond switched with the AC output energised
V_SEQUENCE = const(10)         # power stage without contactors, precharge with contactors closed
V_FAULT_ENERGISED = const(11)  # new energisation while a stop-class fault is latched
V_SIGNAL = const(12)           # d1/d2/pilot/lock outside their rules
V_AC_MODE = const(13)          # V2V relay without a passed RCD self-test, V2H without the interlock
V_OUTLET_PILOT = const(14)     # the AC outlet's pilot outside its rules (V2V only, F on trip)

NAMES = ("ok", "close_mismatch", "open_under_load", "current_limit", "soc_or_vmin",
         "isolation", "estop", "ac_conditions", "ac_backfeed", "bond_under_load",
         "sequence", "fault_energised", "signal", "ac_mode", "outlet_pilot")

D2_MAX_INLET_V = 20   # chademo-can.md s6 step 7 (same as supervisor.D2_MAX_INLET_V)

_BOND_REQUIRED = (1, 1, 0)  # V2L, V2V, V2H (see supervisor.BOND_REQUIRED)


def _abs(x):
    return x if x >= 0 else -x


def current_ceiling(m, max_power_w, derate):
    """Independent statement of rule 2.3: min(car current, car power / V,
    cable rating, fuse rating, configured and box power / V) x derating."""
    if not (m.veh_max_i >= 0 and m.veh_max_p >= 0 and L.V_SAFE_V <= m.v_inlet <= L.V_MAX_VALID_V):
        return 0.0
    return min(m.veh_max_i, L.CABLE_RATING_A, L.FUSE_RATING_A,
               min(m.veh_max_p, max_power_w, L.BOX_MAX_POWER_W) / m.v_inlet) * derate


def _signals(sup, m, prev_sig):
    c = sup.cmd
    d1, d2, lock = prev_sig
    if c.d2 and not c.d1:
        return V_SIGNAL
    tripped = fl.reaction_of(sup.faults) >= fl.R_TRIP or not m.estop_ok
    if tripped and (c.d1 or c.d2 or c.cp_pwm_on or not c.cp_state_f):
        return V_SIGNAL
    if c.d2 and not d2 and not (-1.0 < m.v_inlet < D2_MAX_INLET_V):
        return V_SIGNAL
    if c.cp_pwm_on and (c.cp_state_f or not (c.cp_duty_pm == 50 or 80 <= c.cp_duty_pm <= 970)):
        return V_SIGNAL
    if lock and not c.lock and (c.k_pos or not m.v_inlet < L.V_SAFE_V):
        return V_SIGNAL
    return OK


def _ac_mode(sup, m, prev_ac):
    """Issue 12: V2V closes the AC relay only after the RCD self-test passed
    (and never injects the test current into a closed output); V2H keeps it
    closed only with a made transfer interlock, read within its max age."""
    c = sup.cmd
    if c.rcd_test and (c.ac_relay or not m.estop_ok or fl.reaction_of(sup.faults) >= fl.R_TRIP):
        return V_AC_MODE
    if not c.ac_relay:
        return OK
    if sup.mode == 1 and not prev_ac and not sup.rcd_tested:
        return V_AC_MODE
    if sup.mode == 2:
        age = sup.last_step_ms - m.v2h_interlock_ms
        if not (m.v2h_interlock and m.v2h_interlock_ms >= 0 and 0 <= age <= L.V2H_INTERLOCK_MAX_AGE_MS):
            return V_AC_MODE
    return OK


def _outlet_pilot(sup, m):
    c = sup.cmd
    if c.outlet_cp_pwm_on:
        if c.outlet_cp_state_f or sup.mode != 1 or not 80 <= c.outlet_cp_duty_pm <= 970:
            return V_OUTLET_PILOT
    if (not m.estop_ok or fl.reaction_of(sup.faults) >= fl.R_STOP) and \
            (c.outlet_cp_pwm_on or not c.outlet_cp_state_f):
        return V_OUTLET_PILOT
    return OK


def check(sup, m, prev_k, prev_ac, prev_bond, opened, prev_sig=(0, 0, 0)):
    """Return OK or the first violated invariant for the commands in sup.cmd
    (prev_* are the commands of the previous step; `opened` is how the
    supervisor opened contactors this step: 0, 1 emergency, 2 after a cut)."""
    c = sup.cmd
    if c.k_pos != c.k_neg:
        return V_SEQUENCE
    if c.k_pos and not prev_k and _abs(m.v_inlet - m.v_link) > L.V_MATCH_MAX_V:
        return V_CLOSE_MISMATCH
    fresh = (m.ps_seen_ms >= 0 and sup.last_step_ms - m.ps_seen_ms <= L.PS_READING_MAX_AGE_MS
             and -L.I_MAX_VALID_A < m.i_dc < L.I_MAX_VALID_A)
    if prev_k and not c.k_pos and (_abs(m.i_dc) > L.I_BREAK_MAX_A or not fresh):
        # allowed only as a logged emergency, or after a hardware cut of a
        # power stage whose current reading was lost with its link
        if not (opened == 1 or (opened == 2 and not fresh and not c.ps_enable)):
            return V_OPEN_UNDER_LOAD
    if c.i_limit_a != 0:
        # (a NaN limit fails every comparison: "not below the ceiling")
        if not c.i_limit_a <= current_ceiling(m, sup.max_power_w, sup.derate) + 1e-3:
            return V_CURRENT_LIMIT
        # current only on a SoC the car reported (0..100) above the floor, a
        # known inlet voltage above the car's minimum, and a measuring IMD
        if not (sup.soc_floor_pct < m.veh_soc <= 100) or not m.v_inlet > m.veh_min_v + L.V_MIN_MARGIN_V:
            return V_SOC_OR_VMIN
        if not m.iso_ohm >= L.ISO_MIN_OHM:
            return V_ISOLATION
    if not m.estop_ok and not c.safe():
        return V_ESTOP
    if c.ac_relay:
        if c.npe_bond != _BOND_REQUIRED[sup.mode] or not m.rcd_ok or not c.ps_enable:
            return V_AC_CONDITIONS
        if not prev_ac and m.v_ac >= L.BACKFEED_V_RMS:
            return V_AC_BACKFEED
    if c.npe_bond != prev_bond and (c.ac_relay or prev_ac):
        return V_BOND_UNDER_LOAD
    if c.ps_enable and not c.k_pos:
        return V_SEQUENCE
    if c.k_pre and c.k_pos:
        return V_SEQUENCE
    if fl.reaction_of(sup.faults) >= fl.R_STOP:
        if (c.k_pos and not prev_k) or (c.ac_relay and not prev_ac) or c.k_pre or c.i_limit_a > 0:
            return V_FAULT_ENERGISED
    v = _ac_mode(sup, m, prev_ac) or _outlet_pilot(sup, m)
    if v:
        return v
    return _signals(sup, m, prev_sig)
