"""SECC on the box's own IPv6/TCP stack (`v2xbox secc --transport raw`, issue 11 item 8) against
Josev's EVCC on the kernel stack, in network namespaces (root): the SECC's request-in to
response-out time for CurrentDemand (same method as the kernel-transport figures in
secc_bench.py: the CLI's TimedTransport), a kernel-transport DIN session in the same run for the
ratio, the EVCC-side round trip, and how many of the three protocols complete a full session."""
import os
import tempfile

import common  # noqa: F401  (bench/common.py: run.py put bench/ and the root on the path)

LOOPS = 40      # CurrentDemand loops per DIN session: enough samples for a p99


def _full(rec, loop):
    names = [n for n, _c in rec["requests"]]
    return (rec["ended"] == "session stop" and rec["current_demand_loops"] >= 10 and loop in names
            and names.count("PowerDeliveryReq") == 2 and names[-1] == "SessionStopReq"
            and names[-2].endswith("WeldingDetectionReq"))


def collect():
    from host_tools.secc import josev
    from host_tools.secc.cli import _pct        # the CLI's nearest-rank percentile
    out = {}
    work = tempfile.mkdtemp(prefix="v2x-raw-bench-")
    runs = [("din", None, "CurrentDemandReq", LOOPS), ("iso2", None, "CurrentDemandReq", 12),
            ("iso20dc", ["DC_BPT"], "DC_ChargeLoopReq", 12)]
    passing = 0
    din = None
    for proto, services, loop, loops in runs:
        d = os.path.join(work, proto)
        os.makedirs(d)
        try:
            rec, log = josev.run_session(proto, d, loops=loops, services=services, secc_args=("--soc-floor", "0"),
                                         transport="raw")
        except josev.InteropError as e:
            print("bench: raw %s session failed: %s" % (proto, str(e)[-400:]))
            continue
        ok = _full(rec, loop) and rec["transport"] == "raw"
        passing += 1 if ok else 0
        print("bench: raw %-8s %s, %d loops, CurrentDemand p50 %s ms p99 %s ms" % (
            proto, "full session" if ok else "INCOMPLETE (%s)" % rec["ended"], rec["current_demand_loops"],
            rec["currentdemand_response_ms_p50"], rec["currentdemand_response_ms_p99"]))
        if proto == "din":
            din = (rec, log)
    out["secc.raw_sessions_passing"] = {"value": passing, "unit": "sessions"}
    out["secc.raw_sessions_total"] = {"value": len(runs), "unit": "sessions"}
    if din is None:
        raise RuntimeError("the raw-transport DIN session failed: no response-time figures")
    rec, log = din
    out["secc.raw_currentdemand_response_ms_p50"] = {"value": rec["currentdemand_response_ms_p50"], "unit": "ms"}
    out["secc.raw_currentdemand_response_ms_p99"] = {"value": rec["currentdemand_response_ms_p99"], "unit": "ms"}
    rt = _pct(josev.roundtrips_ms(log), 0.99)       # Josev's own EVCC overhead dominates this one
    out["secc.raw_evcc_roundtrip_currentdemand_ms_p99"] = {"value": rt if rt is not None else -1, "unit": "ms"}
    # the kernel transport, same EVCC, same run: the ratio is what compares (timings drift across runs)
    os.makedirs(os.path.join(work, "kernel"))
    krec, _klog = josev.run_session("din", os.path.join(work, "kernel"), loops=LOOPS,
                                    secc_args=("--soc-floor", "0"), transport="kernel")
    k50 = krec["currentdemand_response_ms_p50"]
    out["secc.raw_vs_kernel_currentdemand_response_p50_ratio"] = {
        "value": round(rec["currentdemand_response_ms_p50"] / k50, 2) if k50 else -1, "unit": "x"}
    print("bench: kernel din same run: CurrentDemand p50 %s ms p99 %s ms" % (k50, krec["currentdemand_response_ms_p99"]))
    return out

