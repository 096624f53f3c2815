"""SECC metrics (issue 11): the firmware SECC's CurrentDemand path on both interpreters,
SDP-to-charge-loop time against the scripted EVCC (simulated time), the SECC's response
times in a real session against Josev's EVCC (root: network namespaces), car profiles.

CurrentDemand response time, ours against Josev's SECC (josev_response_times):
in one bench run, Josev's EVCC (PyPI iso15118, build/josev-venv) runs one DIN DC
session of LOOPS CurrentDemand loops against `v2xbox secc` and one against Josev's
own SECC (`iso15118.secc.main`, simulated EVSE), each in a fresh namespace pair
(host_tools/secc/netns.py) set up the same way. In both, the SECC-side veth end is
captured with kernel timestamps (host_tools/secc/wiretime.py: AF_PACKET,
SO_TIMESTAMPNS, nanosecond pcap); each CurrentDemandReq is paired with its
CurrentDemandRes on the wire: from the frame that completed the request arriving
at the SECC's interface to the frame that began the response leaving it. Same
capture code, same place, same EVCC, same run, so the two figures compare:
  secc.currentdemand_response_ms_p50 / _p99            ours, SECC-side wire
  secc.josev_secc_currentdemand_response_ms_p50 / _p99 Josev's SECC, same method
  secc.currentdemand_response_p99_ratio_vs_josev       ours p99 / Josev's p99
  secc.currentdemand_inprocess_ms_p50 / _p99           ours inside the process (poll
      that delivered the request's bytes -> send of the response; cli.py TimedTransport)
  secc.evcc_roundtrip_currentdemand_ms_p99 / secc.josev_secc_evcc_roundtrip_...
      the EVCC's own view (its log's ms stamps: request sent -> response received)
A session that pairs fewer than MIN_PAIRS loops on the wire is an error, not a figure.
"""
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

    out.update(josev_response_times())
    return out


LOOPS = 100        # CurrentDemand loops per session (Josev EVCC chargeLoopCycle)
MIN_PAIRS = 20


def josev_response_times(loops=LOOPS, workdir=None):
    import tempfile
    from host_tools.secc import josev, wiretime
    out = {}
    workdir = workdir or tempfile.mkdtemp(prefix="v2x-i11m-bench-")
    ours_pcap = os.path.join(workdir, "ours.pcap")
    theirs_pcap = os.path.join(workdir, "josev-secc.pcap")
    for sub in ("ours", "theirs"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    rec, log = josev.run_session("din", os.path.join(workdir, "ours"), loops=loops,
                                 secc_args=("--soc-floor", "0"), capture=ours_pcap)
    theirs_log = josev.run_josev_secc_session(os.path.join(workdir, "theirs"), loops=loops, capture=theirs_pcap)
    ours = wiretime.summary(*wiretime.response_times(ours_pcap))
    theirs = wiretime.summary(*wiretime.response_times(theirs_pcap))
    for who, s in (("ours", ours), ("Josev's SECC", theirs)):
        print("bench: secc wire CurrentDemand %-13s n=%d unpaired=%d p50=%s p99=%s max=%s ms" % (
            who, s["n"], s["unpaired"], s["p50_ms"], s["p99_ms"], s["max_ms"]))
        if s["n"] < MIN_PAIRS:
            raise RuntimeError("%s: only %d CurrentDemand pairs on the wire (captures in %s)" % (who, s["n"], workdir))
    out["secc.currentdemand_response_ms_p50"] = {"value": round(ours["p50_ms"], 3), "unit": "ms"}
    out["secc.currentdemand_response_ms_p99"] = {"value": round(ours["p99_ms"], 3), "unit": "ms"}
    out["secc.josev_secc_currentdemand_response_ms_p50"] = {"value": round(theirs["p50_ms"], 3), "unit": "ms"}
    out["secc.josev_secc_currentdemand_response_ms_p99"] = {"value": round(theirs["p99_ms"], 3), "unit": "ms"}
    out["secc.currentdemand_response_p99_ratio_vs_josev"] = {
        "value": round(ours["p99_ms"] / theirs["p99_ms"], 4), "unit": "ratio"}
    out["secc.currentdemand_wire_pairs"] = {"value": ours["n"], "unit": "loops"}
    out["secc.josev_secc_currentdemand_wire_pairs"] = {"value": theirs["n"], "unit": "loops"}
    out["secc.currentdemand_inprocess_ms_p50"] = {"value": rec["currentdemand_response_ms_p50"], "unit": "ms"}
    out["secc.currentdemand_inprocess_ms_p99"] = {"value": rec["currentdemand_response_ms_p99"], "unit": "ms"}
    out["secc.josev_session_currentdemand_loops"] = {"value": rec["current_demand_loops"], "unit": "loops"}
    # the EVCC's own view of both (its log: request sent -> response received)
    ev_ours = josev.roundtrips_ms(log)
    ev_theirs = josev.roundtrips_ms(theirs_log)
    out["secc.evcc_roundtrip_currentdemand_ms_p99"] = {"value": _p99(ev_ours), "unit": "ms"}
    out["secc.josev_secc_evcc_roundtrip_currentdemand_ms_p99"] = {"value": _p99(ev_theirs), "unit": "ms"}
    out["secc.josev_secc_currentdemand_loops_before_end"] = {"value": len(ev_theirs), "unit": "loops"}
    return out


def _p99(xs):
    if not xs:
        return -1
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(0.99 * (len(s) - 1) + 0.5))], 1)
