"""SLAC, EVSE side (ISO 15118-3 / HomePlug Green PHY PEV-EVSE association).

Sans-IO: whole Ethernet frames in (`receive(frame, now)`), frames out
(`to_send(now)`), one timer (`next_timer()` absolute ms, `handle_timer(now)`),
events out (`events()`): ("matched", ev_mac, nid, nmk), ("failed", reason),
("restart", reason), ("ef_step", ms). Time is integer milliseconds.

Theory of operation (state names as in the standard's sequence):

  IDLE --start()--> SET_KEY --CM_SET_KEY.CNF--> WAIT_PARM
    A fresh NMK (from the injected rng) and its NID go to the own modem
    first; the modem forms a new AVLN with it, so a car matched in an
    earlier session cannot talk to this one.
  WAIT_PARM --CM_SLAC_PARM.REQ--> (send .CNF) WAIT_START_ATTEN
  WAIT_START_ATTEN --CM_START_ATTEN_CHAR.IND (or a first sound)--> SOUNDING
  SOUNDING: collect CM_MNBC_SOUND.IND (+ CM_ATTEN_PROFILE.IND from the own
    modem) until NUM_SOUNDS arrived or TT_EVSE_match_MNBC ran out, then
    send CM_ATTEN_CHAR.IND --> WAIT_ATTEN_RSP
  WAIT_ATTEN_RSP --CM_ATTEN_CHAR.RSP--> WAIT_MATCH (resend .IND on
    TT_match_response, C_EV_match_retry times)
  WAIT_MATCH --CM_SLAC_MATCH.REQ--> (send .CNF with NID+NMK) MATCHED
  MATCHED: the car's modem joins; `link_up(now)` (any frame from the car
    over the new AVLN, or the modem's link report) -> LINKED. Without it
    within TT_match_join the attempt failed.

A car that restarts SLAC (a new CM_SLAC_PARM.REQ in any state up to
MATCHED) restarts the association at once ("reset instead of fail", field
behaviour of Stellantis cars and cars that resend PARM.REQ after an abort).
A resent CM_SLAC_MATCH.REQ after MATCHED gets the same .CNF again.
On failure the core goes back to SET_KEY with a fresh NMK while
TT_EVSE_SLAC_init has not expired, and asks for a T_step_EF pilot step
("ef_step") so the car starts over; after it expires it reports "failed"
and goes IDLE.

Modems that deliver no CM_ATTEN_PROFILE.IND (AR7420) get synthesised
attenuation values: never all zero (cars treat zeros as a defective EVSE;
pyPLC composeAttenCharInd, open-plc-utils issue 156).
"""
from micropython import const

from firmware.protocols.ccs.slac import mme

# ---- timers, ms (everest-core@23c9dac lib/everest/slac/include/slac/slac.hpp; EvseSlac manifest)
TT_EVSE_SLAC_INIT = const(40000)     # plug-in (CP B) to CM_SLAC_PARM.REQ; spec 20-50 s
TT_EVSE_MATCH_MNBC = const(600)      # first START_ATTEN_CHAR to ATTEN_CHAR.IND
TT_MATCH_SEQUENCE = const(400)       # PARM.CNF to the next message of the sequence
TT_MATCH_RESPONSE = const(200)       # ATTEN_CHAR.IND to ATTEN_CHAR.RSP
TT_MATCH_JOIN = const(12000)         # MATCH.CNF to the car's modem joining the AVLN
T_STEP_EF = const(4000)              # E/F pilot step that makes the car restart SLAC
SET_KEY_TIMEOUT = const(1000)        # own modem's CM_SET_KEY.CNF (EvseSlac manifest)
# After the last sound, how long to wait for the own modem's ATTEN_PROFILE.IND
# before synthesising (team: a QCA7000 forwards it within a few ms of the sound).
PROFILE_GRACE = const(60)
# ISO 15118-3 TT_EVSE_match_session (10 s): PARM.CNF to SLAC_MATCH.REQ. Not in the
# team's reference sheet (unconfirmed); it bounds the wait while the car compares EVSEs.
TT_EVSE_MATCH_SESSION = const(10000)

NUM_SOUNDS = const(10)               # C_EV_match_MNBC: sounds the EVSE asks for (PARM.CNF NUM_SOUNDS)
MATCH_RETRIES = const(2)              # C_EV_match_retry: ATTEN_CHAR.IND resends
SET_KEY_RETRIES = const(3)
SOUND_TIME_OUT = const(6)            # PARM.CNF TIME_OUT, x100 ms (= TT_EVSE_match_MNBC)

# Synthesised attenuation (pyPLC composeAttenCharInd): 58 groups at 9 dB,
# the last three rising, as an AR7420-based EVSE that measures nothing.
SYNTH_DB = const(9)
SYNTH_TAIL = b"\x0f\x13\x19"

IDLE = "IDLE"
SET_KEY = "SET_KEY"
WAIT_PARM = "WAIT_PARM"
WAIT_START_ATTEN = "WAIT_START_ATTEN"
SOUNDING = "SOUNDING"
WAIT_ATTEN_RSP = "WAIT_ATTEN_RSP"
WAIT_MATCH = "WAIT_MATCH"
MATCHED = "MATCHED"
LINKED = "LINKED"

ERROR_KINDS = ("short", "ethertype", "mmv", "field", "fragment", "vendor", "other",
               "foreign", "unexpected", "run_id")


def synth_attenuation(n=mme.MAX_GROUPS):
    out = bytearray(n)
    for i in range(n):
        out[i] = SYNTH_DB
    k = len(SYNTH_TAIL) if n >= len(SYNTH_TAIL) else n
    out[n - k:n] = SYNTH_TAIL[len(SYNTH_TAIL) - k:]
    return bytes(out)


class SlacEvse:
    """One EVSE-side SLAC association on one inlet.

    mac: the EVSE's (host) MAC, 6 bytes. rng(n) -> n random bytes (the edge
    passes os.urandom / the MCU's TRNG). modem: address of the own modem's
    management interface (Qualcomm local-cast by default).
    """

    def __init__(self, mac, rng, evse_id=None, modem=mme.MODEM_LOCAL, slac_init_ms=TT_EVSE_SLAC_INIT,
                 join_check=True, max_frames=16):
        if len(mac) != 6:
            raise ValueError("MAC must be 6 bytes")
        if slac_init_ms < 10000:
            raise ValueError("TT_EVSE_SLAC_init below 10 s is not allowed")  # EvseSlac manifest minimum
        self.mac = bytes(mac)
        self._rng = rng
        self.evse_id = evse_id if evse_id is not None else bytes(mme.STATION_ID_LEN)
        self.modem = modem
        self.slac_init_ms = slac_init_ms
        self.join_check = join_check
        self._max_frames = max_frames
        self.errors = {}
        for k in ERROR_KINDS:
            self.errors[k] = 0
        self.dropped_tx = 0
        self.sessions = 0          # SET_KEY rounds (fresh NMKs) since construction
        self.restarts = 0
        self._out = []
        self._events = []
        self._none = []             # returned when nothing happened: no list per idle call
        self.state = IDLE
        self._deadline = None      # state timer (absolute ms)
        self._init_deadline = None  # TT_EVSE_SLAC_init (absolute ms)
        self._retries = 0
        self.nmk = None
        self.nid = None
        self._clear_run()

    def _clear_run(self):
        self.ev_mac = None
        self.run_id = None
        self.num_sounds = 0
        self.sounds = 0
        self._aag_sum = None
        self._profiles = 0
        self._atten_frame = None
        self._match_cnf = None
        self._session_deadline = None

    # ---------------------------------------------------------------- API
    def start(self, now):
        """Plug-in seen (CP left A/E/F): new session with a fresh NMK."""
        self._init_deadline = now + self.slac_init_ms
        self._new_key(now)

    def stop(self, now):
        """Unplug: forget everything; no timers."""
        self.state = IDLE
        self._deadline = None
        self._init_deadline = None
        self._clear_run()

    def link_up(self, now):
        """The car's modem is in the AVLN (first frame from the car over the new
        key, or the modem's own link report)."""
        if self.state == MATCHED:
            self.state = LINKED
            self._deadline = None
            self._init_deadline = None

    def to_send(self, now=0):
        out = self._out
        if not out:
            return self._none       # callers iterate it; they must not append to it
        self._out = []
        return out

    def events(self):
        ev = self._events
        if not ev:
            return self._none
        self._events = []
        return ev

    def next_timer(self):
        d = self._deadline
        i = self._init_deadline
        if d is None:
            return i
        if i is None or d < i:
            return d
        return i

    def handle_timer(self, now):
        if self._init_deadline is not None and now >= self._init_deadline and self.state in _BEFORE_MATCH:
            self._fail(now, "TT_EVSE_SLAC_init expired in " + self.state, final=True)
            return
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        fn = _TIMEOUTS.get(self.state)
        if fn is not None:
            fn(self, now)

    def receive(self, frame, now):
        """One Ethernet frame from the PLC link (any ethertype)."""
        if len(frame) < 14:
            self.errors["short"] += 1
            return
        if (frame[12] << 8 | frame[13]) != mme.ETH_P_HPAV:
            return  # IPv6 and others belong to the network stack, not to SLAC
        try:
            m = mme.decode(frame)
        except mme.MmeError as e:
            self.errors[e.kind] = self.errors.get(e.kind, 0) + 1
            return
        if m["kind"] != "slac":
            self.errors[m["kind"]] += 1   # vendor / other MMEs: ignored, counted, not fatal
            return
        dst = m["dst"]
        if dst != self.mac and dst != mme.BROADCAST:
            self.errors["foreign"] += 1
            return
        fn = _HANDLERS.get((self.state, m["type"]))
        if fn is None:
            fn = _ANY_STATE.get(m["type"])
        if fn is None:
            self.errors["unexpected"] += 1
            return
        fn(self, m, now)

    # ---------------------------------------------------------------- internals
    def _send(self, frame):
        if len(self._out) >= self._max_frames:
            self.dropped_tx += 1   # bounded queue: the edge is not draining
            return
        self._out.append(frame)

    def _new_key(self, now):
        self.nmk = bytes(self._rng(mme.NMK_LEN))
        self.nid = mme.nid_from_nmk(self.nmk)
        self.sessions += 1
        self._retries = 0
        self._clear_run()
        self._enter(SET_KEY, now, SET_KEY_TIMEOUT)
        self._send(mme.set_key_req(self.modem, self.mac, self.nid, self.nmk))

    def _enter(self, state, now, timeout):
        self.state = state
        self._deadline = None if timeout is None else now + timeout

    def _fail(self, now, reason, final=False):
        if final or self._init_deadline is None:
            self._events.append(("failed", reason))
            self.stop(now)
            return
        self.restarts += 1
        self._events.append(("restart", reason))
        self._events.append(("ef_step", T_STEP_EF))
        self._new_key(now)

    def _same_run(self, m):
        if m.get("run_id") != self.run_id:
            self.errors["run_id"] += 1
            return False
        return True

    # -- handlers: (self, msg, now)
    def _on_set_key_cnf(self, m, now):
        if m["src"] != self.modem and self.modem != mme.MODEM_LOCAL:
            self.errors["foreign"] += 1
            return
        # Qualcomm modems report 1 for success, the HomePlug AV text 0; both mean "done".
        if m["result"] not in (0, 1):
            self._set_key_timeout(now)
            return
        self._enter(WAIT_PARM, now, None)

    def _set_key_timeout(self, now):
        self._retries += 1
        if self._retries > SET_KEY_RETRIES:
            self._fail(now, "own modem does not confirm CM_SET_KEY", final=True)
            return
        self._deadline = now + SET_KEY_TIMEOUT
        self._send(mme.set_key_req(self.modem, self.mac, self.nid, self.nmk))

    def _on_parm_req(self, m, now):
        restarted = self.state not in (WAIT_PARM,)
        if restarted:
            if self.state == SET_KEY:
                self.errors["unexpected"] += 1  # the modem has no key yet: the car will resend
                return
            self.restarts += 1
        self._clear_run()
        self.ev_mac = m["src"]
        self.run_id = m["run_id"]
        self._send(mme.slac_parm_cnf(self.ev_mac, self.mac, self.run_id, self.ev_mac,
                                     NUM_SOUNDS, SOUND_TIME_OUT))
        self._session_deadline = now + TT_EVSE_MATCH_SESSION
        self._enter(WAIT_START_ATTEN, now, TT_MATCH_SEQUENCE)

    def _on_start_atten(self, m, now):
        if m["src"] != self.ev_mac or not self._same_run(m):
            return
        self.num_sounds = m["num_sounds"]
        self._enter(SOUNDING, now, TT_EVSE_MATCH_MNBC)

    def _on_sound(self, m, now):
        if m["src"] != self.ev_mac or not self._same_run(m):
            return
        if self.state == WAIT_START_ATTEN:   # START_ATTEN_CHAR lost: the sound starts the window
            self.num_sounds = NUM_SOUNDS
            self._enter(SOUNDING, now, TT_EVSE_MATCH_MNBC)
        self.sounds += 1
        self._maybe_done(now)

    def _maybe_done(self, now):
        if self.sounds < self.num_sounds:
            return
        if self._profiles >= self.sounds:
            self._send_atten_char(now)
        elif self._deadline is None or self._deadline > now + PROFILE_GRACE:
            self._deadline = now + PROFILE_GRACE

    def _on_profile(self, m, now):
        if m["pev_mac"] != self.ev_mac:
            self.errors["foreign"] += 1
            return
        aag = m["aag"]
        if self._aag_sum is None:
            self._aag_sum = [0] * len(aag)
        n = min(len(aag), len(self._aag_sum))
        s = self._aag_sum
        for i in range(n):
            s[i] += aag[i]
        self._profiles += 1
        self._maybe_done(now)

    def _sounding_timeout(self, now):
        self._send_atten_char(now)

    def attenuation(self):
        """Average attenuation per group: measured by the modem, or synthesised."""
        if self._aag_sum is None or self._profiles == 0:
            return synth_attenuation()
        out = bytearray(len(self._aag_sum))
        for i, v in enumerate(self._aag_sum):
            a = (v + self._profiles // 2) // self._profiles
            out[i] = a if a < 255 else 255
        if not any(out):
            return synth_attenuation(len(out))  # an all-zero profile is treated as defective by cars
        return bytes(out)

    def _send_atten_char(self, now):
        self._atten_frame = mme.atten_char_ind(self.ev_mac, self.mac, self.run_id, self.sounds, self.attenuation())
        self._retries = 0
        self._send(self._atten_frame)
        self._enter(WAIT_ATTEN_RSP, now, TT_MATCH_RESPONSE)

    def _atten_rsp_timeout(self, now):
        self._retries += 1
        if self._retries > MATCH_RETRIES:
            self._fail(now, "no CM_ATTEN_CHAR.RSP")
            return
        self._send(self._atten_frame)
        self._deadline = now + TT_MATCH_RESPONSE

    def _on_atten_rsp(self, m, now):
        if m["src"] != self.ev_mac or not self._same_run(m):
            return
        if m["result"] != 0:
            self._fail(now, "car rejected CM_ATTEN_CHAR (result %d)" % m["result"])
            return
        self._enter(WAIT_MATCH, now, None)
        self._deadline = self._session_deadline

    def _on_match_req(self, m, now):
        if m["src"] != self.ev_mac or not self._same_run(m):
            return
        if m["evse_mac"] != self.mac:
            self.errors["foreign"] += 1   # the car chose another EVSE
            return
        self._match_cnf = mme.slac_match_cnf(self.ev_mac, self.mac, self.run_id, self.nid, self.nmk,
                                             m["pev_id"], self.evse_id)
        self._send(self._match_cnf)
        self._enter(MATCHED, now, TT_MATCH_JOIN if self.join_check else None)
        self._init_deadline = None
        self._events.append(("matched", self.ev_mac, self.nid, self.nmk))

    def _on_match_req_again(self, m, now):
        if m["src"] == self.ev_mac and m.get("run_id") == self.run_id and self._match_cnf is not None:
            self._send(self._match_cnf)   # our .CNF was lost: same answer again
        else:
            self.errors["unexpected"] += 1

    def _parm_after_match(self, m, now):
        # The car starts over after MATCHED (it lost the link): a new association, new key.
        self.restarts += 1
        self._init_deadline = now + self.slac_init_ms
        self._new_key(now)

    def _seq_timeout(self, now):
        self._fail(now, "SLAC sequence timed out in " + self.state)

    def _join_timeout(self, now):
        self._init_deadline = now + self.slac_init_ms
        self._fail(now, "car did not join the AVLN within TT_match_join")


_BEFORE_MATCH = (SET_KEY, WAIT_PARM, WAIT_START_ATTEN, SOUNDING, WAIT_ATTEN_RSP, WAIT_MATCH)

_P = mme.CM_SLAC_PARM | mme.REQ
_HANDLERS = {
    (SET_KEY, mme.CM_SET_KEY | mme.CNF): SlacEvse._on_set_key_cnf,
    (WAIT_START_ATTEN, mme.CM_START_ATTEN_CHAR | mme.IND): SlacEvse._on_start_atten,
    (WAIT_START_ATTEN, mme.CM_MNBC_SOUND | mme.IND): SlacEvse._on_sound,
    (SOUNDING, mme.CM_START_ATTEN_CHAR | mme.IND): lambda self, m, now: None,  # repeats (x3)
    (SOUNDING, mme.CM_MNBC_SOUND | mme.IND): SlacEvse._on_sound,
    (SOUNDING, mme.CM_ATTEN_PROFILE | mme.IND): SlacEvse._on_profile,
    (WAIT_ATTEN_RSP, mme.CM_ATTEN_CHAR | mme.RSP): SlacEvse._on_atten_rsp,
    (WAIT_ATTEN_RSP, mme.CM_START_ATTEN_CHAR | mme.IND): lambda self, m, now: None,
    (WAIT_ATTEN_RSP, mme.CM_MNBC_SOUND | mme.IND): lambda self, m, now: None,  # late sounds
    (WAIT_ATTEN_RSP, mme.CM_ATTEN_PROFILE | mme.IND): lambda self, m, now: None,
    (WAIT_MATCH, mme.CM_SLAC_MATCH | mme.REQ): SlacEvse._on_match_req,
    (WAIT_MATCH, mme.CM_ATTEN_CHAR | mme.RSP): lambda self, m, now: None,  # duplicate RSP
    (MATCHED, mme.CM_SLAC_MATCH | mme.REQ): SlacEvse._on_match_req_again,
    (LINKED, mme.CM_SLAC_MATCH | mme.REQ): SlacEvse._on_match_req_again,
    (MATCHED, _P): SlacEvse._parm_after_match,
    (LINKED, _P): SlacEvse._parm_after_match,
    (IDLE, _P): lambda self, m, now: self.errors.__setitem__("unexpected", self.errors["unexpected"] + 1),
}
# CM_SLAC_PARM.REQ restarts the association in every state before MATCHED.
_ANY_STATE = {
    _P: SlacEvse._on_parm_req,
}
_TIMEOUTS = {
    SET_KEY: SlacEvse._set_key_timeout,
    WAIT_START_ATTEN: SlacEvse._seq_timeout,
    SOUNDING: SlacEvse._sounding_timeout,
    WAIT_ATTEN_RSP: SlacEvse._atten_rsp_timeout,
    WAIT_MATCH: SlacEvse._seq_timeout,
    MATCHED: SlacEvse._join_timeout,
}
