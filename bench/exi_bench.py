"""EXI codec metrics for `make bench` (issue #4). `collect()` returns the five exi.* figures.

    python bench/exi_bench.py        # prints them as JSON

Same run, same messages: DIN CurrentDemandReq/Res and ChargeParameterDiscoveryReq/Res,
each encoded and decoded by our codec (CPython) and by EXIficient (Josev's EXICodec.jar
over py4j, the way Josev drives it); the speedup is the ratio of the two means.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import firmware  # noqa: E402,F401
from firmware.v2g.exi import codec_for  # noqa: E402

SID = "0102030405060708"
PV = lambda m, u, v: {"Multiplier": m, "Unit": u, "Value": v}  # noqa: E731

MESSAGES = [
    {"V2G_Message": {"Header": {"SessionID": SID}, "Body": {"CurrentDemandReq": {
        "DC_EVStatus": {"EVReady": True, "EVCabinConditioning": False, "EVRESSConditioning": False,
                        "EVErrorCode": "NO_ERROR", "EVRESSSOC": 55},
        "EVTargetCurrent": PV(-1, "A", 1250), "EVMaximumVoltageLimit": PV(0, "V", 420),
        "EVMaximumCurrentLimit": PV(0, "A", 200), "EVMaximumPowerLimit": PV(3, "W", 80),
        "BulkChargingComplete": False, "ChargingComplete": False,
        "RemainingTimeToFullSoC": PV(0, "s", 1800), "RemainingTimeToBulkSoC": PV(0, "s", 1200),
        "EVTargetVoltage": PV(0, "V", 400)}}}},
    {"V2G_Message": {"Header": {"SessionID": SID}, "Body": {"CurrentDemandRes": {
        "ResponseCode": "OK",
        "DC_EVSEStatus": {"EVSEIsolationStatus": "Valid", "EVSEStatusCode": "EVSE_Ready",
                          "NotificationMaxDelay": 0, "EVSENotification": "None"},
        "EVSEPresentVoltage": PV(0, "V", 398), "EVSEPresentCurrent": PV(-1, "A", 1248),
        "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False, "EVSEPowerLimitAchieved": False,
        "EVSEMaximumVoltageLimit": PV(0, "V", 500), "EVSEMaximumCurrentLimit": PV(0, "A", 200),
        "EVSEMaximumPowerLimit": PV(3, "W", 50)}}}},
    {"V2G_Message": {"Header": {"SessionID": SID}, "Body": {"ChargeParameterDiscoveryReq": {
        "EVRequestedEnergyTransferType": "DC_extended",
        "DC_EVChargeParameter": {
            "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 20},
            "EVMaximumCurrentLimit": PV(0, "A", 200), "EVMaximumPowerLimit": PV(3, "W", 80),
            "EVMaximumVoltageLimit": PV(0, "V", 420), "EVEnergyCapacity": PV(3, "Wh", 75),
            "EVEnergyRequest": PV(3, "Wh", 60), "FullSOC": 100, "BulkSOC": 80}}}}},
    {"V2G_Message": {"Header": {"SessionID": SID}, "Body": {"ChargeParameterDiscoveryRes": {
        "ResponseCode": "OK", "EVSEProcessing": "Finished",
        "SAScheduleList": {"SAScheduleTuple": [{"SAScheduleTupleID": 1, "PMaxSchedule": {
            "PMaxScheduleID": 1, "PMaxScheduleEntry": [
                {"RelativeTimeInterval": {"start": 0, "duration": 86400}, "PMax": 5000}]}}]},
        "DC_EVSEChargeParameter": {
            "DC_EVSEStatus": {"EVSEIsolationStatus": "Valid", "EVSEStatusCode": "EVSE_Ready",
                              "NotificationMaxDelay": 0, "EVSENotification": "None"},
            "EVSEMaximumCurrentLimit": PV(0, "A", 200), "EVSEMaximumPowerLimit": PV(3, "W", 50),
            "EVSEMaximumVoltageLimit": PV(0, "V", 500), "EVSEMinimumCurrentLimit": PV(0, "A", 0),
            "EVSEMinimumVoltageLimit": PV(0, "V", 150), "EVSEPeakCurrentRipple": PV(-1, "A", 5)}}}}},
]


def _mean_us(fn, seconds=1.0, min_rounds=20):
    fn()
    n = 0
    t0 = time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= min_rounds:
            return dt / n * 1e6


def cpython_us_per_msg():
    din = codec_for("din")

    def work():
        for m in MESSAGES:
            din.decode(din.encode(m), text_binary=True)

    return _mean_us(work) / len(MESSAGES)


def exificient_us_per_msg():
    from host_tools.exi.peer import ExificientPeer

    peer = ExificientPeer()
    try:
        texts = [json.dumps(m) for m in MESSAGES]

        def work():
            for t in texts:
                json.loads(peer.decode_json(peer.encode_json(t, "din"), "din"))

        for _ in range(50):       # JIT warm-up, so the peer is measured at its best
            work()
        return _mean_us(work, seconds=2.0) / len(MESSAGES)
    finally:
        peer.close()


def micropython_currentdemand():
    p = subprocess.run(["node", os.path.join(ROOT, "tools", "mpy", "run.mjs"), "--script",
                        os.path.join(ROOT, "bench", "mpy_exi_currentdemand.py"), "300"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError("MicroPython bench failed: " + p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def mpy_bytes():
    from tools.exigen.mpysize import compile_all

    with tempfile.TemporaryDirectory() as d:
        return sum(compile_all(d).values())


def collect():
    ours = cpython_us_per_msg()
    jar = exificient_us_per_msg()
    mp = micropython_currentdemand()
    return {
        "exi.cpython_us_per_msg": {"value": round(ours, 1), "unit": "us"},
        "exi.speedup_vs_exificient": {"value": round(jar / ours, 1), "unit": "x"},
        "exi.micropython_currentdemand_ms": {"value": round(mp["ms_per_cycle"], 3), "unit": "ms"},
        "exi.micropython_peak_heap_bytes": {"value": mp["heap_bytes"], "unit": "bytes"},
        "exi.mpy_bytes": {"value": mpy_bytes(), "unit": "bytes"},
    }


if __name__ == "__main__":
    print(json.dumps(collect(), indent=2))
