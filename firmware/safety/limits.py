"""Safety limits and reaction-time bounds, with where each number comes from.

Sources are the team's reference sheets in /work/shared/reference (cited by
file and section); "(team)" marks an engineering choice of ours, "(calc)" our
arithmetic. Change a number here only together with its justification.
"""
from micropython import const

# ---------------------------------------------------------------- DC side
# Box contactors close only when both sides are within 20 V: cars themselves
# close at |Vinlet - Vbatt| < ~20 V (ccs-nacs-dc-handshake.md §6 row 8, §9 risk 1).
V_MATCH_MAX_V = const(20)
# A contactor is never opened with more than 2 A flowing unless it is an
# emergency trip (issue #5). 2 A is also the precharge/cable-check current
# limit (ccs-nacs-dc-handshake.md §6 rows 7-8).
I_BREAK_MAX_A = const(2)
# Touch-safe DC: welding detection ends and the link counts as discharged
# below 60 V (EVerest waits for < 60 V, ccs-nacs-dc-handshake.md §9 risk 7;
# IEEE 2030.1.1 "< 60 V within 1 s", chademo-can.md §6).
V_SAFE_V = const(60)
# IMD threshold: isolation below 100 kOhm is a fault (IEC 61851-23 via
# EVerest, ccs-nacs-dc-handshake.md §6 row 7, §9 risk 6).
ISO_MIN_OHM = const(100000)
# Precharge / cable-check source is current limited to 2 A in hardware;
# its voltage target is capped at the box's DC rating.
PRECHARGE_MAX_V = const(500)       # (team) DIN CableCheck test V <= 500 V for EVmax <= 450 V (§6 row 7)

# ---------------------------------------------------------------- ratings (team, hardware)
CABLE_RATING_A = const(32)         # (team) inlet cable + connector continuous rating
FUSE_RATING_A = const(40)          # (team) DC fuse; above it we trip at once
BOX_MAX_POWER_W = const(7200)      # (team) 240 V x 30 A V2V target (inverter-and-v2l-targets.md §7, calc)
# Over-current: measured current above the granted limit plus this margin for
# OC_TIME_MS is an over-current stop; above the fuse rating it is a trip.
OC_MARGIN_A = const(3)             # (team) sensor + regulation tolerance
OC_TIME_MS = const(100)            # (team) the ">= 200 % for 100 ms" rung of the overload ladder (inverter-and-v2l-targets.md §2)
# Contract with the power stage (team): it follows a lower current limit at
# no less than this slew rate. Over-current is judged against the granted
# limit decayed at this rate, so a legitimate ramp-down is not a fault.
PS_RAMP_A_PER_S = const(100)

# ---------------------------------------------------------------- temperature (team)
T_DERATE_C = const(70)             # derating starts (linear to zero at T_STOP_C)
T_STOP_C = const(90)               # at or above: stop the session
T_RESTART_C = const(60)            # fault clears only below this (hysteresis)

# ---------------------------------------------------------------- SoC / voltage
SOC_FLOOR_DEFAULT_PCT = const(20)  # EVerest SAE V2H default, Vortipower 20 % (ccs-nacs §7, §9 risk 4; inverter-and-v2l §1.2)
# Stop this far above the car's minimum voltage: Battery-Emulator adds a 2 %
# margin to the CHAdeMO lower threshold (chademo-can.md §7); 2 % of 400 V ~ 8 V.
V_MIN_MARGIN_V = const(8)

# ---------------------------------------------------------------- AC side
# Backfeed: voltage already on the output before we energise it. (team)
# 30 V rms is far above the mV-level leakage of an open relay yet below any
# real source (120 V/230 V nominal, ANSI C84.1 / EN 50160 ranges).
BACKFEED_V_RMS = const(30)
BACKFEED_CLEAR_MS = const(200)     # (team) output must read dead this long before the relay closes
# While running, power flowing *into* the inverter means another source is
# tied to the output. (team) 100 W for 40 ms (two 50 Hz cycles).
BACKFEED_P_W = const(100)
BACKFEED_TIME_MS = const(40)

# ---------------------------------------------------------------- timing
SUPERVISOR_PERIOD_MS = const(10)   # (team) supervisor step period in the main loop
# Vehicle link: DIN CurrentDemand EV timeout 0.25 s and ISO-20 charge-loop
# sequence timeout 0.5 s (ccs-nacs §6 row 10, §8); CHAdeMO frames every 100 ms,
# "no request for 1 s -> stop" (chademo-can.md §1, §6 step 11). We use the
# tighter 0.5 s for both, i.e. 5 missed CHAdeMO frames.
VEHICLE_LINK_TIMEOUT_MS = const(500)
# V2G before the DC path closes (Handshake, CableCheck, PreCharge: no current can
# flow to or from the traction battery): the EVCC waits up to 2 s for each
# response (DIN 70121 / ISO 15118-2 message timeouts for SAP .. PreCharge, ISO
# 15118-20 messages 2 s; ccs-nacs §6 rows 1-9, §7, §8) and sends its next
# request only then, so a response lost once on the powerline and resent by TCP
# legitimately leaves more than 0.5 s between two requests. 2 s + the
# charge-loop 0.5 s for the car's pause between requests (team). The CCS
# composition sets it (Supervisor.link_open_timeout_ms); CHAdeMO keeps 0.5 s.
VEHICLE_LINK_V2G_OPEN_TIMEOUT_MS = const(2500)
# Power stage status on the internal CAN every 10 ms (team); 10 missed frames.
PS_LINK_TIMEOUT_MS = const(100)
# The discharge current is measured by the power stage and reported in its
# status frame; a reading older than this is not trusted for the 2 A rule (team:
# three status periods). Between this and PS_LINK_TIMEOUT_MS nothing opens.
PS_READING_MAX_AGE_MS = const(30)
# Ramp-down: the car waits 0.5 s after k-off for the charger to reach low
# current (CHAdeMO step 12, chademo-can.md §6); if the current is not below
# I_BREAK_MAX_A by then, the supervisor escalates to an emergency trip.
RAMP_DOWN_TIMEOUT_MS = const(500)
# Main-loop stall: a timer interrupt checks the loop heartbeat. After
# LOOP_STALL_MS without a supervisor step it drops the power-stage enable
# line (hardware cut), then opens the contactors once current is low.
# The hardware watchdog (pins.WDT_TIMEOUT_MS = 500) is the backstop.
LOOP_STALL_MS = const(50)          # (team) 5 supervisor periods
MONITOR_PERIOD_MS = const(10)      # (team) stall-monitor timer period
# A power stage that loses its enable line stops switching within this (team,
# gate-driver disable); used to bound the hardware-cut path.
PS_CUT_SETTLE_MS = const(20)
# Welding check: the link side must fall below V_SAFE_V while the inlet stays
# up; CHAdeMO allows <= 4 s (limit 10 s) for welding detection (chademo-can.md §6 step 13).
WELD_CHECK_MS = const(4000)
# DC-link discharge to < 60 V within 1 s (IEEE 2030.1.1, chademo-can.md §6).
DISCHARGE_TIMEOUT_MS = const(1000)

# ---------------------------------------------------------------- plausibility (issue 8)
# Every input has a valid range and a maximum age; outside it the value is a
# fault, never a default. NaN fails every range check (all comparisons false).
V_MAX_VALID_V = const(1000)        # (team) above any 800 V-class pack; the 400:1 divider saturates at 1320 V
I_MAX_VALID_A = const(300)         # power_stage.dbc InletCurrent range +-300 A: a reading at the rail is a saturated sensor
T_MIN_VALID_C = const(-35)         # (team) box rated to -30 degC; a TMP36 open reads -50 degC, the stage's raw-0 floor is -40 degC
T_MAX_VALID_C = const(150)         # (team) above any real reading; a TMP36 shorted to 3.3 V reads 280 degC
V_AC_MAX_VALID_V = const(500)      # (team) V rms, the AC divider saturates at 660 V
P_AC_MAX_VALID_W = const(15000)    # power_stage.dbc AcActivePower range +-15 kW
VEH_MAX_P_VALID_W = const(400000)  # (team) no car asks for more than 400 kW
# PsIsolation / PsTemperatures / PsFaults are sent every 100 ms
# (power_stage.dbc GenMsgCycleTime); three missed cycles make them stale.
SLOW_FRAME_MAX_AGE_MS = const(300)
# Longest erase of one storage erase unit the main loop may block for while
# every output is off (team, to be measured on the target: a 32 KiB F767
# sector and a 128 KiB H743 sector erase in well under this; see docs).
FLASH_ERASE_MAX_MS = const(2000)

# ---------------------------------------------------------------- AC output preconditions (issue 12)
# V2H transfer-interlock input: read by the safety io every supervisor step;
# a reading older than this is not trusted (three missed steps).
V2H_INTERLOCK_MAX_AGE_MS = const(30)
# V2V RCD self-test: a 30 mA RCD must trip at its rated residual current within
# 300 ms (IEC 61008-1 / IEC 61009-1 break time at I_delta_n); it re-arms once the
# test current is removed (team: electronic RCM module, re-arm < 200 ms).
RCD_TRIP_MAX_MS = const(300)
RCD_REARM_MAX_MS = const(200)
