"""Fault codes, their reactions and how they clear: one table, no branches.

A fault is a bit in the supervisor's latched mask. Its row says how hard
the supervisor reacts while energised and what it takes to clear it.
"""
from micropython import const

# ---- fault bits
F_ESTOP = const(0)            # E-stop loop open
F_ISOLATION = const(1)        # IMD reading below ISO_MIN_OHM
F_OVER_TEMP = const(2)        # temperature at/above T_STOP_C
F_VEHICLE_LINK = const(3)     # no vehicle message (PLC or CAN) within VEHICLE_LINK_TIMEOUT_MS
F_PS_LINK = const(4)          # no power-stage status on the internal CAN within PS_LINK_TIMEOUT_MS
F_LOOP_STALL = const(5)       # main loop stalled (timer monitor) or watchdog reset
F_BACKFEED = const(6)         # voltage/power from another source on the AC output
F_RCD = const(7)              # RCD tripped / not armed
F_OVER_CURRENT = const(8)     # current above the granted limit + margin (power stage not regulating)
F_SHORT = const(9)            # current above the fuse rating
F_SOC_FLOOR = const(10)       # car SoC at/below the floor (normal end, not a failure)
F_MIN_VOLTAGE = const(11)     # pack voltage at/below the car's minimum (normal end)
F_WELDED = const(12)          # box contactor stuck closed
F_CONTACTOR = const(13)       # box contactor failed to close (aux disagrees)
F_PS_FAULT = const(14)        # power stage reports an internal fault
F_RAMP_TIMEOUT = const(15)    # current did not fall below I_BREAK_MAX_A in time
F_INVARIANT = const(16)       # the final invariant guard caught a bad command
# ---- inputs the supervisor cannot trust (plausibility and freshness, issue 8)
F_V_SENSOR = const(17)        # inlet/link voltage NaN or outside its valid range (sensor open/short)
F_I_SENSOR = const(18)        # discharge current NaN or outside the sensor range
F_T_SENSOR = const(19)        # temperature NaN, outside its range (sensor open/short) or stale
F_IMD = const(20)             # IMD not measuring, NaN or stale while the DC path is closed
F_VEH_DATA = const(21)        # vehicle value implausible (SoC 255/101/-1 while closed, NaN limits)
F_AC_SENSOR = const(22)       # AC output voltage/power NaN or outside its range
F_STORAGE = const(23)         # flash program/erase failed (contained; the DTC stays in RAM)
# ---- AC output preconditions (issue 12, V2V / V2H)
F_RCD_TEST = const(24)        # V2V: the RCD did not trip on its test current in time, or did not re-arm
F_V2H_INTERLOCK = const(25)   # V2H: transfer-interlock input stale, or opened under an energised output
N_FAULTS = const(26)

# input classes guarded by a plausibility/freshness fault (bench: safety.plausibility_faults)
PLAUSIBILITY = (F_V_SENSOR, F_I_SENSOR, F_T_SENSOR, F_IMD, F_VEH_DATA, F_AC_SENSOR)

# ---- reactions, ordered by severity (a larger number wins)
R_NONE = const(0)
R_STOP = const(1)      # ramp current to < 2 A, then open (ordinary stop)
R_CUT = const(2)       # drop the power-stage enable line now, open once current is low
R_TRIP = const(3)      # open everything now (emergency; logged when current > 2 A)
R_LOCKOUT = const(4)   # trip and stay locked out until service

REACTION_NAMES = ("none", "stop", "cut", "trip", "lockout")

# ---- how a latched fault clears
C_AUTO = const(0)      # clears on user reset once the condition is gone
C_UNPLUG = const(1)    # vehicle-related: also clears on unplug
C_SERVICE = const(2)   # only a service command clears it

# Per fault: (name, reaction, AC side opens at once, clear rule, is a normal end)
FAULTS = (
    ("estop", R_TRIP, 1, C_AUTO, 0),
    ("isolation", R_STOP, 1, C_UNPLUG, 0),
    ("over_temp", R_STOP, 0, C_AUTO, 0),
    ("vehicle_link", R_STOP, 0, C_UNPLUG, 0),
    ("ps_link", R_CUT, 1, C_AUTO, 0),
    ("loop_stall", R_CUT, 1, C_AUTO, 0),
    ("backfeed", R_STOP, 1, C_AUTO, 0),
    ("rcd", R_STOP, 1, C_AUTO, 0),
    ("over_current", R_CUT, 1, C_AUTO, 0),
    ("short", R_TRIP, 1, C_AUTO, 0),
    ("soc_floor", R_STOP, 0, C_UNPLUG, 1),
    ("min_voltage", R_STOP, 0, C_UNPLUG, 1),
    ("welded", R_LOCKOUT, 1, C_SERVICE, 0),
    ("contactor", R_STOP, 1, C_SERVICE, 0),
    ("ps_fault", R_CUT, 1, C_AUTO, 0),
    ("ramp_timeout", R_TRIP, 1, C_AUTO, 0),
    ("invariant", R_LOCKOUT, 1, C_SERVICE, 0),
    # without a voltage/current reading the ceiling and the 2 A rule cannot be
    # judged: cut the stage now, open once it has stopped switching
    ("v_sensor", R_CUT, 1, C_AUTO, 0),
    ("i_sensor", R_CUT, 1, C_AUTO, 0),
    # no trustworthy temperature: no derating possible, ordinary stop
    ("t_sensor", R_STOP, 1, C_AUTO, 0),
    ("imd", R_STOP, 1, C_UNPLUG, 0),
    ("veh_data", R_STOP, 0, C_UNPLUG, 0),
    ("ac_sensor", R_STOP, 1, C_AUTO, 0),
    ("storage", R_STOP, 0, C_AUTO, 0),
    # an RCD that fails its own self-test is a broken protective device: service
    ("rcd_test", R_STOP, 1, C_SERVICE, 0),
    ("v2h_interlock", R_STOP, 1, C_AUTO, 0),
)


def name(fault):
    return FAULTS[fault][0]


def reaction_of(mask):
    """Most severe reaction over the faults set in `mask`."""
    r = R_NONE
    i = 0
    while mask:
        if mask & 1:
            fr = FAULTS[i][1]
            if fr > r:
                r = fr
        mask >>= 1
        i += 1
    return r


def ac_off_of(mask):
    i = 0
    while mask:
        if mask & 1 and FAULTS[i][2]:
            return True
        mask >>= 1
        i += 1
    return False


def only_normal_end(mask):
    """True if every set fault is a normal end (SoC floor, min voltage)."""
    i = 0
    while mask:
        if mask & 1 and not FAULTS[i][4]:
            return False
        mask >>= 1
        i += 1
    return True


def names_of(mask):
    out = []
    for i in range(N_FAULTS):
        if mask & (1 << i):
            out.append(FAULTS[i][0])
    return out
