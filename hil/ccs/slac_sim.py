"""A sans-IO PEV for SLAC on simulated time, with the reference PEV's timing
(open-plc-utils `pev`: one CM_START_ATTEN_CHAR.IND, NUM_SOUNDS sounds 20 ms
apart, ATTEN_CHAR.RSP and SLAC_MATCH.REQ at once), and the loop that runs it
against the firmware's EVSE core with a SimClock. Used by the bench's
slac.match_ms (simulated time) and as a SLAC car in sim rigs."""
from firmware.core.clock import SimClock
from firmware.protocols.ccs.slac import evse as se
from firmware.protocols.ccs.slac import mme

EV = b"\x02\xee\x00\x00\x00\x01"
EVSE = b"\x02\xe5\xe0\x00\x00\x01"
MODEM = b"\x00\xb0\x52\xe5\x00\x01"


# The PEV's own retries (ISO 15118-3 C_EV_match_retry = 2 resends of CM_SLAC_PARM.REQ and
# CM_SLAC_MATCH.REQ when the confirmation does not come within TT_match_response = 200 ms; the
# same constants as the EVSE core's, firmware/protocols/ccs/slac/evse.py). Only `tick()` resends,
# so callers that never call it (run_match) keep the reference PEV's single-shot timing.
PEV_RETRIES = se.MATCH_RETRIES
PEV_RETRY_MS = se.TT_MATCH_RESPONSE


class SimPev:
    def __init__(self, mac=EV, run_id=b"\x02\xee\x00\x00\x00\x01\x00\x01", pause_ms=20, link_ms=1):
        self.wait = None       # (kind, frame, resend at, resends left): a REQ waiting for its CNF
        self.resends = 0
        self.mac = mac
        self.run_id = run_id
        self.pause_ms = pause_ms
        self.link_ms = link_ms
        self.out = []          # (due_ms, frame)
        self.matched = None
        self.evse_mac = None

    def start(self, now):
        f = mme.slac_parm_req(mme.BROADCAST, self.mac, self.run_id)
        self.out.append((now, f))
        self.wait = ("parm", f, now + PEV_RETRY_MS, PEV_RETRIES)

    def tick(self, now):
        """Resend the REQ still waiting for its CNF (lossy lines)."""
        w = self.wait
        if w is None or now < w[2]:
            return
        if w[3] <= 0:
            self.wait = None          # given up: the car waits for the EVSE's E/F step
            return
        self.resends += 1
        self.out.append((now, w[1]))
        self.wait = (w[0], w[1], now + PEV_RETRY_MS, w[3] - 1)

    def receive(self, frame, now):
        m = mme.decode(frame)
        t = m["type"]
        if t == mme.CM_SLAC_PARM | mme.CNF and m["run_id"] == self.run_id:
            if self.wait is None or self.wait[0] != "parm":
                return                # a duplicate CNF: the sounds are already on their way
            self.wait = None
            self.out.append((now, mme.start_atten_char_ind(mme.BROADCAST, self.mac, self.run_id, self.mac,
                                                           m["num_sounds"], m["time_out"])))
            for i in range(m["num_sounds"]):
                self.out.append((now + i * self.pause_ms,
                                 mme.mnbc_sound_ind(mme.BROADCAST, self.mac, self.run_id, m["num_sounds"] - 1 - i)))
        elif t == mme.CM_ATTEN_CHAR | mme.IND:
            self.evse_mac = m["src"]
            self.out.append((now, mme.atten_char_rsp(m["src"], self.mac, self.run_id)))
            f = mme.slac_match_req(m["src"], self.mac, self.run_id)
            self.out.append((now, f))
            self.wait = ("match", f, now + PEV_RETRY_MS, PEV_RETRIES)
        elif t == mme.CM_SLAC_MATCH | mme.CNF:
            self.wait = None
            if self.matched is None:
                self.matched = (now, m["nid"], m["nmk"])


def run_match(atten_profile=None, limit_ms=60000):
    """SimClock run: EVSE core + SimPev (+ an own modem that confirms SET_KEY
    and, with atten_profile, reports ATTEN_PROFILE per sound). Returns
    (parm_req_ms, match_cnf_ms, core)."""
    clk = SimClock()
    core = se.SlacEvse(EVSE, lambda n: bytes(range(7, 7 + n)))
    pev = SimPev()
    core.start(clk.now_ms())
    to_core = []          # (due, frame)
    parm_at = None
    match_at = None
    started = False
    while clk.now_ms() < limit_ms and pev.matched is None:
        now = clk.now_ms()
        for f in core.to_send(now):
            mt = f[15] | (f[16] << 8)
            if mt == mme.CM_SET_KEY | mme.REQ:
                to_core.append((now + 1, mme.set_key_cnf(EVSE, MODEM)))
                continue
            if mt == mme.CM_SLAC_MATCH | mme.CNF:
                match_at = now
            pev.receive(f, now + pev.link_ms)
        if core.state == se.WAIT_PARM and not started:
            started = True
            pev.start(now)
        due = [x for x in pev.out if x[0] <= now]
        pev.out = [x for x in pev.out if x[0] > now]
        for _t, f in due:
            if parm_at is None and f[15] | (f[16] << 8) == mme.CM_SLAC_PARM | mme.REQ:
                parm_at = now
            to_core.append((now + pev.link_ms, f))
            if atten_profile is not None and f[15] | (f[16] << 8) == mme.CM_MNBC_SOUND | mme.IND:
                to_core.append((now + pev.link_ms + 1, mme.atten_profile_ind(EVSE, MODEM, pev.mac, atten_profile)))
        ready = [x for x in to_core if x[0] <= now]
        to_core = [x for x in to_core if x[0] > now]
        for _t, f in ready:
            core.receive(f, now)
        nt = core.next_timer()
        if nt is not None and nt <= now:
            core.handle_timer(now)
        clk.advance(1)
    return parm_at, match_at, core
