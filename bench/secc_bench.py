"""SECC metrics (issue 11): the firmware SECC's CurrentDemand path on both interpreters,
SDP-to-charge-loop time against the scripted EVCC (simulated time), the SECC's response
times in a real session against Josev's EVCC (root: network namespaces), car profiles."""
import os

import common  # noqa: F401  (bench/common.py: puts nothing on the path, run.py did)
from common import run_cpython, run_micropython

HERE = os.path.dirname(os.path.abspath(__file__))


def collect():
    out = {}
    script = os.path.join(HERE, "secc_currentdemand.py")
    c = run_cpython(script, 300)
    m = run_micropython(script, 200)
    out["secc.cpython_currentdemand_ms"] = {"value": round(c["mean_ms"], 4), "unit": "ms"}
    out["secc.micropython_currentdemand_ms"] = {"value": round(m["mean_ms"], 3), "unit": "ms"}
    out["secc.micropython_currentdemand_heap_bytes"] = {"value": m["heap_bytes"], "unit": "B"}

    from hil.ccs import din_rig, profile_runs
    rec, ev, port, secc = din_rig.run()
    if ev.result != "completed":
        raise RuntimeError("scripted DIN session failed: %s" % ev.result)
    out["secc.sdp_to_current_loop_s"] = {"value": round(ev.first_cd_at / 1000.0, 3), "unit": "s"}
    for name, ms in sorted(rec["phase_ms"].items(), key=lambda kv: kv[1]):
        print("bench: secc phase %-28s at %7.3f s" % (name, ms / 1000.0))

    runs = profile_runs.run_all()
    out["secc.profiles_passing"] = {"value": sum(1 for r in runs if r[1]), "unit": "profiles"}
    out["secc.profiles_total"] = {"value": len(runs), "unit": "profiles"}

    from host_tools.secc import josev
    rec, log = josev.run_din_session(loops=40, secc_args=("--soc-floor", "0"))
    out["secc.currentdemand_response_ms_p50"] = {"value": rec["currentdemand_response_ms_p50"], "unit": "ms"}
    out["secc.currentdemand_response_ms_p99"] = {"value": rec["currentdemand_response_ms_p99"], "unit": "ms"}
    out["secc.josev_session_currentdemand_loops"] = {"value": rec["current_demand_loops"], "unit": "loops"}
    # the same Josev EVCC, same run, timing both SECCs from its side (request sent -> response received)
    ours = josev.roundtrips_ms(log)
    theirs_log = josev.run_josev_secc_session(loops=40)
    theirs = josev.roundtrips_ms(theirs_log)
    out["secc.evcc_roundtrip_currentdemand_ms_p99"] = {"value": _p99(ours), "unit": "ms"}
    out["secc.josev_secc_evcc_roundtrip_currentdemand_ms_p99"] = {"value": _p99(theirs), "unit": "ms"}
    out["secc.josev_secc_currentdemand_loops_before_end"] = {"value": len(theirs), "unit": "loops"}
    return out


def _p99(xs):
    if not xs:
        return -1
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(0.99 * (len(s) - 1) + 0.5))], 1)
