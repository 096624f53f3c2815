"""Fault-injection matrix: every fault x every session state, in simulated
time, through the real SafetyApp inside hil.rigs.safety.

The expected reaction per cell is the specification (written from issue #5
and the detection rules in docs/safety.md), not derived from the code:
  ignored        the fault does not apply in that state (nothing latched)
  refuse start   latched while nothing is energised; the session cannot (re)start
  ramp-down stop current ramped below 2 A, then contactors open (R_STOP)
  cut stop       power-stage enable dropped at once, contactors open at < 2 A (R_CUT)
  emergency trip everything opened at once, logged as an emergency if current flowed
  lockout        latched until service (welded contactor)
A cell passes when the observed class matches, the safe state (contactors,
precharge, power stage and AC relay all off) is reached within the stated
bound for that fault, no contactor opens above 2 A without being logged as
an emergency, and the fault has a DTC with testFailed set.
"""
import copy

from firmware.safety import dtc as D
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.charging import table as T
from hil.rigs.safety import FAULTS, SafetyRig

OBS_MS = 1500
TICK = L.SUPERVISOR_PERIOD_MS
RAMP = L.RAMP_DOWN_TIMEOUT_MS

IGN, REF, STOP, CUT, TRIP, LOCK = "ignored", "refuse start", "ramp-down stop", "cut stop", "emergency trip", "lockout"

_S = T
ALL = tuple(range(T.N_STATES))
QUIET = (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG)
PRE = (T.ISOLATION_CHECK, T.PRECHARGE)
CLOSED = (T.CONTACTORS_CLOSED, T.POWER_STAGE_START, T.SUPPLYING, T.STOPPING)
AFTER = (T.CONTACTORS_OPEN, T.WELDING_CHECK, T.DC_LINK_DISCHARGE)
LATE = AFTER + (T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)


def _spec(default, **by_group):
    """Expected reaction per state: `default`, overridden per group of states."""
    out = [default] * T.N_STATES
    for states, r in by_group.values():
        for s in states:
            out[s] = r
    return tuple(out)


# fault -> expected reaction per state (index = state)
EXPECTED = {
    # E-stop: trips whatever is energised, and blocks any start while latched
    "estop": _spec(REF, a=(PRE + CLOSED, TRIP)),
    # IMD readings count from the cable check until the contactors are open again
    "isolation": _spec(IGN, a=((T.HANDSHAKE,), REF), b=(PRE + CLOSED, STOP)),
    # derate above 70 degC, stop at 90 degC; a hot box never starts. Injected
    # as 80 degC rising 40 degC/s: in Stopping the ordinary stop has finished
    # before 90 degC is reached, so the fault then only blocks a restart.
    "over_temp": _spec(REF, a=(PRE + CLOSED[:3], STOP)),
    # the vehicle link is watched once it has been up in the session, until
    # the stop ramp ends. Handshake: injected before the car's first message,
    # so the handshake timeout (60 s) applies instead; Stopping: the ramp ends
    # well inside the 500 ms link timeout.
    "vehicle_link": _spec(IGN, a=(PRE + CLOSED[:3], STOP)),
    # the power stage reports all the time; losing it cuts its enable line
    "ps_link": _spec(REF, a=(PRE + CLOSED, CUT)),
    # a stalled main loop: the timer monitor cuts, the watchdog resets
    "loop_stall": _spec(REF, a=(PRE + CLOSED, CUT)),
    # a live voltage on the output, or power flowing into the inverter
    "backfeed": _spec(REF, a=(PRE + CLOSED, STOP)),
    # the RCD must be armed for every mode
    "rcd": _spec(REF, a=(PRE + CLOSED, STOP)),
    # the power stage draws 10 A above its setpoint: seen once its enable is on
    "over_current": _spec(IGN, a=(PRE + CLOSED, CUT)),
    # a short behind the box contactors: only seen with the DC path closed
    "short": _spec(IGN, a=(CLOSED, TRIP)),
    # SoC floor: the car reports it while the link is up; a normal end
    "soc_floor": _spec(IGN, a=((T.HANDSHAKE,), REF), b=(PRE + CLOSED, STOP)),
    # the pack voltage is known once the car's contactors are closed
    "min_voltage": _spec(IGN, a=(PRE + CLOSED, STOP)),
    # a welded contactor shows when it is commanded open (mirror contact)
    "welded": _spec(LOCK, a=((T.CONTACTORS_CLOSED, T.POWER_STAGE_START, T.SUPPLYING), IGN),
                    b=((T.LOCKOUT,), IGN)),
    # ---- inputs that cannot be trusted (issue 8): local sensors are read all
    # the time, so a bad one blocks any start and stops whatever is energised
    "v_sensor": _spec(REF, a=(PRE + CLOSED, CUT)),
    # the stage reports its current all the time
    "i_sensor": _spec(REF, a=(PRE + CLOSED, CUT)),
    # current pushed INTO the car above the fuse rating: a short in the other
    # direction, from a stage that runs (so also once a session in PreCharge closes)
    "i_reverse": _spec(IGN, a=(PRE + CLOSED, TRIP)),
    "t_sensor": _spec(REF, a=(PRE + CLOSED, STOP)),
    # the stage's temperature frame stops arriving: its last value is not kept
    "t_stale": _spec(REF, a=(PRE + CLOSED, STOP)),
    # the IMD says "not measuring": judged whenever the DC path is closed
    # (in the cable check it simply never passes: the session's own timeout)
    "imd_off": _spec(IGN, a=((T.PRECHARGE,) + CLOSED, STOP)),
    # the car reports SoC 255 (no floor could be judged): like the SoC floor
    "soc_bad": _spec(IGN, a=((T.HANDSHAKE,), REF), b=(PRE + CLOSED, STOP)),
    # the inverter reports NaN power (backfeed could not be judged): always read
    "ac_sensor": _spec(REF, a=(PRE + CLOSED, STOP)),
}

# Stated bound, fault onset -> safe state, in simulated ms (docs/safety.md).
BOUND_MS = {
    "estop": 0,                                                        # pin interrupt
    "isolation": TICK + RAMP + 2 * TICK,
    "over_temp": TICK + RAMP + 2 * TICK,
    "vehicle_link": L.VEHICLE_LINK_TIMEOUT_MS + TICK + RAMP + 2 * TICK,
    "ps_link": L.PS_LINK_TIMEOUT_MS + TICK + L.PS_CUT_SETTLE_MS + 2 * TICK,
    "loop_stall": L.LOOP_STALL_MS + 2 * L.MONITOR_PERIOD_MS + L.PS_CUT_SETTLE_MS,
    "backfeed": L.BACKFEED_TIME_MS + TICK + RAMP + 2 * TICK,
    "rcd": TICK + RAMP + 2 * TICK,
    "over_current": L.OC_TIME_MS + 2 * TICK + L.PS_CUT_SETTLE_MS + 2 * TICK,
    "short": TICK,
    "soc_floor": TICK + RAMP + 2 * TICK,
    "min_voltage": TICK + RAMP + 2 * TICK,
    "welded": 0,          # the power path cannot open; measured to everything else off
    "v_sensor": TICK + L.PS_CUT_SETTLE_MS + 2 * TICK,
    "i_sensor": TICK + L.PS_CUT_SETTLE_MS + 2 * TICK,
    "i_reverse": TICK,
    "t_sensor": TICK + RAMP + 2 * TICK,
    "t_stale": L.SLOW_FRAME_MAX_AGE_MS + TICK + RAMP + 2 * TICK,
    "imd_off": 2 * TICK + RAMP + 2 * TICK,
    "soc_bad": TICK + RAMP + 2 * TICK,
    "ac_sensor": TICK + RAMP + 2 * TICK,
}

FAULT_BIT = {
    "estop": fl.F_ESTOP, "isolation": fl.F_ISOLATION, "over_temp": fl.F_OVER_TEMP,
    "vehicle_link": fl.F_VEHICLE_LINK, "ps_link": fl.F_PS_LINK, "loop_stall": fl.F_LOOP_STALL,
    "backfeed": fl.F_BACKFEED, "rcd": fl.F_RCD, "over_current": fl.F_OVER_CURRENT,
    "short": fl.F_SHORT, "soc_floor": fl.F_SOC_FLOOR, "min_voltage": fl.F_MIN_VOLTAGE,
    "welded": fl.F_WELDED,
    "v_sensor": fl.F_V_SENSOR, "i_sensor": fl.F_I_SENSOR, "i_reverse": fl.F_SHORT,
    "t_sensor": fl.F_T_SENSOR, "t_stale": fl.F_T_SENSOR, "imd_off": fl.F_IMD, "soc_bad": fl.F_VEH_DATA,
    "ac_sensor": fl.F_AC_SENSOR,
}

_ENERGISING = ("K_DC_POS", "K_DC_NEG", "K_PRECHARGE", "PS_ENABLE", "AC_OUT_RELAY")


def _energised(p):
    return any(p.out(r) for r in _ENERGISING)


def prepare_states():
    """One plant snapshot per session state, taken one tick (+3 ms) after
    the state was entered (Supplying: once current flows)."""
    snaps = {}
    p = SafetyRig()

    def grab(p):
        s = p.app.session.state
        if s not in snaps and s not in (T.FAULT, T.LOCKOUT):
            delay = 500 if s == T.SUPPLYING else TICK + 3
            p.run(delay)
            if p.app.session.state == s:
                snaps[s] = copy.deepcopy(p)
    p.run(50)
    grab(p)
    p.plug()
    p.run(20)
    grab(p)
    p.start()
    for _ in range(4000):
        p.step()
        grab(p)
        if T.SUPPLYING in snaps:
            break
    p.run(500)
    p.stop()
    for _ in range(4000):
        p.step()
        grab(p)
        if T.READY_TO_UNPLUG in snaps:
            break
    # Fault: the protocol gives up during the handshake
    f = SafetyRig()
    f.plug()
    f.run(20)
    f.start()
    f.run(200)
    f.app.session.post(T.EV_PROTOCOL_FAULT)
    f.run(TICK + 3)
    assert f.app.session.state == T.FAULT
    snaps[T.FAULT] = f
    # Lockout: a welded contactor, then (for the matrix) the plant repaired
    lk = SafetyRig()
    lk.plug()
    lk.run(20)
    lk.inject("welded")
    lk.run(300)
    assert lk.app.session.state == T.LOCKOUT
    lk.welded = False
    lk.kp = False
    lk.fault_onset = -1
    lk.run(50)
    snaps[T.LOCKOUT] = lk
    missing = [T.STATE_NAMES[s] for s in ALL if s not in snaps]
    assert not missing, "states not reached: %s" % missing
    return snaps


def run_cell(snap, fault):
    p = copy.deepcopy(snap)
    state0 = p.app.session.state
    faults0 = p.app.sup.faults
    energised0 = _energised(p)
    app0 = p.app
    t0 = p.clock.now_ms()
    n_open0 = len(p.opens)
    p.inject(fault)
    safe_at = t0 if not _energised(p) else -1
    new_energy = False
    prev = {r: p.out(r) for r in _ENERGISING}
    # faults whose onset comes later (temperature crossing, excess current)
    # are judged by what was energised at their onset
    energised_at_onset = energised0 if p.fault_onset >= 0 else None
    for _ in range(OBS_MS):
        if energised_at_onset is None and p.fault_onset >= 0:
            energised_at_onset = p.onset_energised     # sampled by the plant at the onset ms
            if energised_at_onset and not _energised(p):
                safe_at = p.fault_onset                # made safe in the onset ms itself
            elif not energised_at_onset:
                safe_at = p.fault_onset
        p.step()
        now = p.clock.now_ms()
        if safe_at < 0 and not _energised(p):
            safe_at = now - 1
        for r in _ENERGISING:
            v = p.out(r)
            if v and not prev[r] and safe_at >= 0:
                new_energy = True
            prev[r] = v
    app = p.app
    rebooted = app is not app0
    new_bits = app.sup.faults & ~(0 if rebooted else faults0)
    latched = bool(new_bits & (1 << FAULT_BIT[fault]))
    state1 = app.session.state
    if state1 == T.LOCKOUT and state0 != T.LOCKOUT:
        got = LOCK
    elif not latched:
        got = IGN
    elif not energised_at_onset:
        got = REF
    else:
        r = fl.reaction_of(new_bits)
        got = {fl.R_STOP: STOP, fl.R_CUT: CUT, fl.R_TRIP: TRIP, fl.R_LOCKOUT: LOCK}.get(r, IGN)
    onset = p.fault_onset if p.fault_onset >= 0 else t0
    reaction = None
    if got != IGN and energised_at_onset:
        reaction = (safe_at - onset) if safe_at >= 0 else None
    problems = []
    want = EXPECTED[fault][state0]
    if got != want:
        problems.append("expected %s" % want)
    if got != IGN:
        if reaction is None and energised_at_onset:
            problems.append("safe state not reached")
        elif reaction is not None and fault != "welded" and reaction > BOUND_MS[fault]:
            problems.append("%d ms > bound %d ms" % (reaction, BOUND_MS[fault]))
        if new_energy:
            problems.append("energised again after the fault")
        if not app.dtc.status(D.FAULT_DTC[FAULT_BIT[fault]]) & D.TF:
            problems.append("no DTC")
    for t, i, after, before in p.opens[n_open0:]:
        if i > L.I_BREAK_MAX_A and after <= before:
            problems.append("opened at %.1f A without an emergency" % i)
    emerg = sum(1 for t, i, after, before in p.opens[n_open0:] if after > before)
    return {
        "fault": fault, "state": T.STATE_NAMES[state0], "expected": want, "observed": got,
        "reaction_ms": reaction, "bound_ms": BOUND_MS[fault], "end_state": T.STATE_NAMES[state1],
        "emergency_opens": emerg, "passed": not problems, "problems": problems,
    }


def estop_polled_ms(snaps):
    """E-stop seen by the polled input only (interrupt not wired): worst case
    over a tick's phases, from Supplying."""
    worst = 0
    for phase in range(TICK):
        p = copy.deepcopy(snaps[T.SUPPLYING])
        p.run(phase)
        t0 = p.clock.now_ms()
        p.estop = True                      # pin only, no estop_irq()
        p.run_until(lambda q: not _energised(q), 100)
        worst = max(worst, p.clock.now_ms() - 1 - t0)
    return worst


def run_matrix():
    snaps = prepare_states()
    cells = []
    for fault in FAULTS:
        for s in ALL:
            cells.append(run_cell(snaps[s], fault))
    reactions = [c["reaction_ms"] for c in cells if c["reaction_ms"] is not None]
    estop = [c["reaction_ms"] for c in cells if c["fault"] == "estop" and c["reaction_ms"] is not None]
    return {
        "cells": cells,
        "passed": sum(1 for c in cells if c["passed"]),
        "total": len(cells),
        "worst_reaction_ms": max(reactions) if reactions else 0,
        "estop_reaction_ms": max(estop) if estop else 0,
        "estop_polled_ms": estop_polled_ms(snaps),
    }


_CACHE = []


def cached_matrix():
    """The matrix result, computed once per process (tests, docs, bench share it)."""
    if not _CACHE:
        _CACHE.append(run_matrix())
    return _CACHE[0]


# ------------------------------------------------------------------ stalled main loop, CHAdeMO car
# Stated bound, stall onset -> d2 released and the car's contactors open:
# LOOP_STALL_MS without a step, up to one MONITOR_PERIOD_MS until the timer
# sees it (the monitor then cuts the power stage), PS_CUT_SETTLE_MS for the
# stage to stop switching, one more monitor period to open everything.
STALL_D2_BOUND_MS = L.LOOP_STALL_MS + 2 * L.MONITOR_PERIOD_MS + L.PS_CUT_SETTLE_MS


def stall_to_d2_off(phases=tuple(range(L.SUPERVISOR_PERIOD_MS))):
    """Run the CHAdeMO discharge bench (real BoxApp + simulated car) to
    Supplying, stall the main loop at every phase of the 10 ms tick, and
    return the worst (stall -> d2 wire released, stall -> car contactors
    open, car openings under load, current at the opening)."""
    from hil.rigs.discharge import DischargeRig as Bench
    from hil.vehicles.chademo_car import ChademoCar
    base = Bench(car=ChademoCar(soc=70), load_w=3000.0)
    base.run(100)
    base.plug()
    base.run(50)
    base.start()
    assert base.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 2500, 30000), base.state_names()
    base.run(300)
    worst = [0, 0, 0, 0.0]
    for ph in phases:
        b = copy.deepcopy(base)
        b.run(ph)
        assert b.out("CHADEMO_D2") == 1 and b.car.contactors_closed
        t0 = b.now
        under0 = b.car.opened_under_load
        b.stall_firmware()
        t_d2 = t_car = -1
        i_open = 0.0
        for _ in range(1000):
            b.step()
            now = b.now - 1
            if t_d2 < 0 and b.hal.gpio["CHADEMO_D2"].pin == 0:
                t_d2 = now - t0
            if t_car < 0 and not b.car.contactors_closed:
                t_car = now - t0
                i_open = b.plant.i
            if t_d2 >= 0 and t_car >= 0:
                break
        worst[0] = max(worst[0], t_d2 if t_d2 >= 0 else 10 ** 6)
        worst[1] = max(worst[1], t_car if t_car >= 0 else 10 ** 6)
        worst[2] = max(worst[2], b.car.opened_under_load - under0)
        worst[3] = max(worst[3], i_open)
    return tuple(worst)
