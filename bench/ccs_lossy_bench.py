"""CCS on a lossy powerline (slice i11-lossy), simulated time: the CCS rig
(hil/rigs/ccs.py: the real firmware on its own link, the car's SLAC / IPv6 /
TCP and the scripted DIN EVCC) with seeded loss on ANY frame crossing the line
(SLAC, ND, SDP, TCP; hil/ccs/ev_net.SimLine), both directions.

  secc.lossy_sessions_passing   of SEEDS seeds x RATES frame-loss rates: sessions with a V2G
                                session of >= 10 CurrentDemand loops (hil/rigs/ccs_lossy.py)
  secc.lossy_sessions_total
  secc.lossy_sessions_safe      of those, sessions that ended safe (box contactors and
                                precharge off, session inactive, inlet and DC link < 60 V)
  secc.lossy_sessions_renewed   passing only thanks to the renewal (the first V2G session
                                ended early on the car's timeout; the box's renewal policy,
                                one renewal allowed per run)
  secc.lossy_plug_to_current_loop_s_p50 / _p95
                                CP state B to the first CurrentDemandReq (as
                                secc.plug_to_current_loop_s) over the same seeds and rates,
                                sessions that got there
  (failure kinds, the EVCC's results, are printed for the record)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SEEDS = range(1, 21)
RATES = (0.02, 0.05)


def _pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def collect():
    from hil.rigs.ccs_lossy import PASS_LOOPS, lossy_session, outcome
    from hil.rigs.ccs import plug_to_loop
    passing = safe = total = renewed = 0
    fails = {}
    p2l = []
    for loss in RATES:
        for seed in SEEDS:
            o = outcome(lossy_session(seed, loss))
            total += 1
            passing += o["passed"]
            safe += o["safe"]
            renewed += o["passed"] and o["renewed"] > 0 and o["loops"][0] < PASS_LOOPS
            if not o["passed"]:
                k = "; ".join(o["results"]) or "no EVCC result"
                fails[k] = fails.get(k, 0) + 1
            try:
                _r, _m, _ph, ms = plug_to_loop(loss=loss, seed=seed)
                p2l.append(ms / 1000.0)
            except RuntimeError:
                pass
            print("bench: lossy %.0f %% seed %2d: %s %s" % (loss * 100, seed, "pass" if o["passed"] else "FAIL",
                                                          o["results"]))
    print("bench: lossy failures by kind: %s" % fails)
    return {
        "secc.lossy_sessions_passing": {"value": passing, "unit": "sessions"},
        "secc.lossy_sessions_total": {"value": total, "unit": "sessions"},
        "secc.lossy_sessions_safe": {"value": safe, "unit": "sessions"},
        "secc.lossy_sessions_renewed": {"value": renewed, "unit": "sessions"},
        "secc.lossy_plug_to_current_loop_s_p50": {"value": round(_pct(p2l, 50), 3), "unit": "s"},
        "secc.lossy_plug_to_current_loop_s_p95": {"value": round(_pct(p2l, 95), 3), "unit": "s"},
        "secc.lossy_plug_to_current_loop_n": {"value": len(p2l), "unit": "sessions"},
    }


if __name__ == "__main__":
    print(collect())
