"""The session state machine as data: (state, event) -> (next state, actions),
plus per-state intent (what the supervisor is asked to allow) and timeout.

Names follow issue #5 and, where one exists, the DIN SPEC 70121 / ISO 15118
step (CableCheck, PreCharge, PowerDelivery, WeldingDetection). The diagram in
docs/session_states.md is generated from this module by
tools/gen_safety_docs.py; tests fail if it is stale.
"""
from micropython import const

from firmware.safety import supervisor as sv

# ---- states
IDLE = const(0)
PLUGGED = const(1)
HANDSHAKE = const(2)
ISOLATION_CHECK = const(3)     # DIN/ISO-2 CableCheck, CHAdeMO insulation test
PRECHARGE = const(4)           # DIN/ISO-2 PreCharge
CONTACTORS_CLOSED = const(5)   # box contactors closing / closed (PowerDelivery start)
POWER_STAGE_START = const(6)   # DC/DC up, inverter soft start
SUPPLYING = const(7)           # CurrentDemand loop / CHAdeMO charging loop
STOPPING = const(8)            # ramp down until current < I_BREAK_MAX_A
CONTACTORS_OPEN = const(9)
WELDING_CHECK = const(10)      # DIN/ISO-2 WeldingDetection
DC_LINK_DISCHARGE = const(11)
READY_TO_UNPLUG = const(12)
FAULT = const(13)
LOCKOUT = const(14)
N_STATES = const(15)

STATE_NAMES = ("Idle", "Plugged", "Handshake", "IsolationCheck", "PreCharge",
               "ContactorsClosed", "PowerStageStart", "Supplying", "Stopping",
               "ContactorsOpen", "WeldingCheck", "DcLinkDischarge", "ReadyToUnplug",
               "Fault", "Lockout")

# ---- events (user/protocol edges, supervisor levels, timers)
EV_PLUG = const(0)             # connector detected (level)
EV_UNPLUG = const(1)           # connector gone (level)
EV_START = const(2)            # user start
EV_STOP = const(3)             # user stop
EV_HANDSHAKE_DONE = const(4)   # protocol: limits known, car ready for CableCheck
EV_PROTOCOL_FAULT = const(5)   # the protocol ended on a fault (timeout, sequence, car fault, refusal)
EV_VEHICLE_STOP = const(6)     # car ended the session
EV_ISO_OK = const(7)           # supervisor: IMD >= 100 kOhm at test voltage
EV_PRECHARGE_DONE = const(8)   # supervisor: sides matched, car contactors closed
EV_CLOSED = const(9)           # supervisor: box contactors closed (aux confirmed)
EV_PS_READY = const(10)        # power stage up
EV_CURRENT_LOW = const(11)     # current ramped below I_BREAK_MAX_A
EV_OPENED = const(12)          # box contactors open (aux confirmed)
EV_WELD_OK = const(13)         # welding check passed
EV_DISCHARGED = const(14)      # inlet and link below 60 V, no failure
EV_DISCHARGED_FAULT = const(15)  # same, but a failure is latched
EV_END = const(16)             # supervisor: SoC floor / min voltage reached
EV_FAULT = const(17)           # supervisor: stop-class fault latched
EV_TRIP = const(18)            # supervisor: tripped (contactors already open)
EV_LOCKOUT = const(19)         # supervisor: lockout fault
EV_CLEARED = const(20)         # every fault cleared (after reset / unplug)
EV_TIMEOUT = const(21)         # the state's timeout elapsed
EV_SERVICE_CLEAR = const(22)   # technician cleared a lockout
N_EVENTS = const(23)

EVENT_NAMES = ("plug", "unplug", "start", "stop", "handshake_done", "protocol_fault",
               "vehicle_stop", "iso_ok", "precharge_done", "closed", "ps_ready",
               "current_low", "opened", "weld_ok", "discharged", "discharged_fault",
               "end", "fault", "trip", "lockout", "cleared", "timeout", "service_clear")

# ---- actions (bit set)
A_PROTO_START = const(0x01)    # start the protocol stack's handshake
A_PROTO_STOP = const(0x02)     # tell the car we stop (EVSE_Shutdown / CHAdeMO stop flag)
A_FAIL = const(0x04)           # the session failed (timeout/protocol): logged as a DTC
A_NEW_CYCLE = const(0x08)      # a new operation cycle (DTC status bits)
ACTION_NAMES = ((A_PROTO_START, "proto_start"), (A_PROTO_STOP, "proto_stop"),
                (A_FAIL, "fail"), (A_NEW_CYCLE, "new_cycle"))

_LK = sv.I_LINK
# Per state: (intent bits, timeout ms or 0). Timeouts cite their source.
STATE_INFO = (
    (0, 0),                                                     # Idle
    (0, 0),                                                     # Plugged
    (_LK, 60000),            # V2G_SECC_Sequence_Timeout 60 s (ccs-nacs §6)
    (_LK | sv.I_ISO_TEST | sv.I_PRECHARGE, 40000),   # CableCheck loop 40 s (ccs-nacs §6 row 7)
    (_LK | sv.I_PRECHARGE, 7000),                    # PreCharge loop 7 s DIN/ISO-2 (ccs-nacs §6 row 8)
    (_LK | sv.I_PRECHARGE | sv.I_CONTACTORS, 3000),  # EVSE contactor closed <= 3 s (ccs-nacs §6 row 9)
    (_LK | sv.I_CONTACTORS | sv.I_POWER_STAGE, 4500),  # PowerDelivery performance 4.5 s (ccs-nacs §6 row 9)
    (_LK | sv.I_CONTACTORS | sv.I_POWER_STAGE | sv.I_CURRENT | sv.I_AC, 0),
    (_LK | sv.I_CONTACTORS | sv.I_POWER_STAGE, 1000),  # backstop; supervisor trips at RAMP_DOWN_TIMEOUT_MS
    (0, 1000),                                                  # ContactorsOpen (team)
    (sv.I_WELD_CHECK | sv.I_DISCHARGE, 0),           # one timer: the supervisor's WELD_CHECK_MS judges (F_WELDED)
    (sv.I_DISCHARGE, 10000),                         # car opens its contactors, link < 60 V (team)
    (0, 0),                                                     # ReadyToUnplug
    (sv.I_DISCHARGE, 0),                                        # Fault
    (sv.I_DISCHARGE, 0),                                        # Lockout
)

# Groups used to build the rows (construction only; the table is the data).
_PRE_CLOSE = (ISOLATION_CHECK, PRECHARGE)
_CLOSED = (CONTACTORS_CLOSED, POWER_STAGE_START, SUPPLYING)
_ALL_BUT_LOCKOUT = tuple(s for s in range(N_STATES) if s != LOCKOUT)


def _build():
    t = {}

    def row(state, event, nxt, actions=0):
        t[(state, event)] = (nxt, actions)

    row(IDLE, EV_PLUG, PLUGGED)
    row(PLUGGED, EV_UNPLUG, IDLE)
    row(PLUGGED, EV_START, HANDSHAKE, A_PROTO_START | A_NEW_CYCLE)
    row(HANDSHAKE, EV_HANDSHAKE_DONE, ISOLATION_CHECK)
    row(HANDSHAKE, EV_PROTOCOL_FAULT, FAULT, A_PROTO_STOP | A_FAIL)
    row(HANDSHAKE, EV_TIMEOUT, FAULT, A_PROTO_STOP | A_FAIL)
    row(HANDSHAKE, EV_STOP, PLUGGED, A_PROTO_STOP)
    row(HANDSHAKE, EV_VEHICLE_STOP, PLUGGED, A_PROTO_STOP)
    row(HANDSHAKE, EV_UNPLUG, IDLE, A_PROTO_STOP)
    row(HANDSHAKE, EV_END, READY_TO_UNPLUG, A_PROTO_STOP)      # SoC already at the floor
    row(HANDSHAKE, EV_FAULT, FAULT, A_PROTO_STOP)
    row(HANDSHAKE, EV_TRIP, FAULT, A_PROTO_STOP)
    row(ISOLATION_CHECK, EV_ISO_OK, PRECHARGE)
    row(PRECHARGE, EV_PRECHARGE_DONE, CONTACTORS_CLOSED)
    for s in _PRE_CLOSE:
        row(s, EV_TIMEOUT, DC_LINK_DISCHARGE, A_PROTO_STOP | A_FAIL)
        row(s, EV_PROTOCOL_FAULT, DC_LINK_DISCHARGE, A_PROTO_STOP | A_FAIL)
        row(s, EV_FAULT, DC_LINK_DISCHARGE, A_PROTO_STOP)
        row(s, EV_TRIP, DC_LINK_DISCHARGE, A_PROTO_STOP)
        row(s, EV_END, DC_LINK_DISCHARGE, A_PROTO_STOP)
        row(s, EV_STOP, DC_LINK_DISCHARGE, A_PROTO_STOP)
        row(s, EV_VEHICLE_STOP, DC_LINK_DISCHARGE, A_PROTO_STOP)
        row(s, EV_UNPLUG, DC_LINK_DISCHARGE, A_PROTO_STOP | A_FAIL)
    row(CONTACTORS_CLOSED, EV_CLOSED, POWER_STAGE_START)
    row(POWER_STAGE_START, EV_PS_READY, SUPPLYING)
    for s in _CLOSED:
        if s != SUPPLYING:
            row(s, EV_TIMEOUT, STOPPING, A_PROTO_STOP | A_FAIL)
        row(s, EV_PROTOCOL_FAULT, STOPPING, A_PROTO_STOP | A_FAIL)
        row(s, EV_FAULT, STOPPING, A_PROTO_STOP)
        row(s, EV_END, STOPPING, A_PROTO_STOP)
        row(s, EV_STOP, STOPPING, A_PROTO_STOP)
        row(s, EV_VEHICLE_STOP, STOPPING, A_PROTO_STOP)
        row(s, EV_UNPLUG, STOPPING, A_PROTO_STOP | A_FAIL)
        row(s, EV_TRIP, WELDING_CHECK, A_PROTO_STOP)
    row(STOPPING, EV_CURRENT_LOW, CONTACTORS_OPEN)
    row(STOPPING, EV_TIMEOUT, CONTACTORS_OPEN, A_FAIL)
    row(STOPPING, EV_TRIP, WELDING_CHECK)
    row(CONTACTORS_OPEN, EV_OPENED, WELDING_CHECK)
    row(CONTACTORS_OPEN, EV_TRIP, WELDING_CHECK)
    row(CONTACTORS_OPEN, EV_TIMEOUT, WELDING_CHECK, A_FAIL)
    row(WELDING_CHECK, EV_WELD_OK, DC_LINK_DISCHARGE)
    row(DC_LINK_DISCHARGE, EV_DISCHARGED, READY_TO_UNPLUG)
    row(DC_LINK_DISCHARGE, EV_DISCHARGED_FAULT, FAULT)
    row(DC_LINK_DISCHARGE, EV_TIMEOUT, FAULT, A_FAIL)
    row(READY_TO_UNPLUG, EV_UNPLUG, IDLE)
    for s in (IDLE, PLUGGED, READY_TO_UNPLUG):
        row(s, EV_FAULT, FAULT)
        row(s, EV_TRIP, FAULT)
    row(FAULT, EV_CLEARED, IDLE)
    for s in _ALL_BUT_LOCKOUT:
        row(s, EV_LOCKOUT, LOCKOUT, A_PROTO_STOP if s not in (IDLE, PLUGGED, FAULT, READY_TO_UNPLUG) else 0)
    row(LOCKOUT, EV_SERVICE_CLEAR, IDLE)
    return t


TABLE = _build()


def intent_of(state):
    return STATE_INFO[state][0]


def timeout_of(state):
    return STATE_INFO[state][1]


def lookup(state, event):
    """(next_state, actions) or None if the event is ignored in this state."""
    return TABLE.get((state, event))
