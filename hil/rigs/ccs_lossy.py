"""Sessions on a lossy simulated powerline (slice i11-lossy): the CCS rig
(hil/rigs/ccs.py: real firmware on its own link, the car's SLAC / IPv6 /
TCP and the scripted EVCC) with seeded impairments on ANY frame crossing the
line (hil/ccs/ev_net.SimLine: loss per direction, duplication, reorder).

    r = lossy_session(seed=3, loss=0.05)
    o = outcome(r)   # {"passed": bool, "safe": bool, "results": [...], ...}

A session passes when some V2G session of the plug-in reached
PASS_LOOPS CurrentDemand loops (the first one, or the one after a renewal:
the box renews once after a car's timeout if energy had flowed; the run
allows one renewal).
It ended safe when, at the end, the box's DC contactors and precharge are
off, the session is not active and inlet and DC link are below 60 V
(IEC 61851-23 / DIN 70121 WeldingDetection: below 60 V is touch-safe).
"""
from firmware.charging import table as T
from hil.rigs.ccs import CcsRig

PASS_LOOPS = 10                 # the slice's bar: >= 10 CurrentDemand loops
SAFE_V = 60.0                   # touch-safe DC (see above)
SETTLE_MS = 2000                # run on after the end so a discharge in progress finishes


def lossy_session(seed, loss, loops=12, max_ms=60000, cfg=None, line=None):
    """Plug, start, run until every V2G session is over and the box has let
    go (no renewal pending), or max_ms; then SETTLE_MS more. -> the rig."""
    # the box's renewal policy as configured (a car that timed out after energy flowed gets a
    # new session), one renewal at most so that a run ends
    c = {"renew_max": 1}
    c.update(cfg or {})
    r = CcsRig(car={"loops": loops}, cfg=c, loss=loss, seed=seed, line=line)
    r.plug()
    r.run(300)
    r.start()
    end = (T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)

    def over(r):
        return (r.ev is not None and r.ev.done and r.state in end and not r.power.active
                and not r.power._renew_pending)
    t_end = r.now + max_ms
    while r.now < t_end:
        r.run_until(over, t_end - r.now)
        r.run(SETTLE_MS)
        if over(r):             # still over after settling (a renewal starts a tick after "over")
            break
    return r


def outcome(r):
    recs = r.records()
    cmd = r.power.safety.sup.cmd
    safe = (not r.power.active and cmd.k_pos == 0 and cmd.k_neg == 0 and cmd.k_pre == 0
            and r.out_k() == (0, 0) and r.plant.v_inlet < SAFE_V and r.plant.v_link < SAFE_V)
    return {
        "passed": any(x["current_demand_loops"] >= PASS_LOOPS for x in recs),
        "renewed": r.power.renewals,
        "safe": safe,
        "results": [e.result for e in r.evs],
        "ended": [x["ended"] for x in recs],
        "loops": [x["current_demand_loops"] for x in recs],
        "state": T.STATE_NAMES[r.state],
        "faults": r.power.safety.sup.faults,
        "lost": r.net.line.lost,
        "lost_by": dict(r.net.line.lost_by),
        "slac_runs": r.net.slac_runs,
    }
