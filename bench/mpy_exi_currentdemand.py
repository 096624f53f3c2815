# Runs inside MicroPython (node tools/mpy/run.mjs --script bench/mpy_exi_currentdemand.py [N]):
# decode a DIN CurrentDemandReq and encode the CurrentDemandRes, as the SECC does each cycle.
# Prints one JSON line: mean ms per (decode + encode) and the heap allocated by one cycle.
import gc
import sys
import time

import firmware  # noqa: F401
from firmware.v2g.exi import codec_for

try:
    _argv = ARGV  # noqa: F821  (set by tools/mpy/run.mjs; the wasm port has no sys.argv)
except NameError:
    _argv = sys.argv
N = int(_argv[1]) if len(_argv) > 1 else 200

din = codec_for("din")
RES = {"V2G_Message": {"Header": {"SessionID": b"\x01\x02\x03\x04\x05\x06\x07\x08"},
                       "Body": {"CurrentDemandRes": {
                           "ResponseCode": "OK",
                           "DC_EVSEStatus": {"EVSEIsolationStatus": "Valid", "EVSEStatusCode": "EVSE_Ready",
                                             "NotificationMaxDelay": 0, "EVSENotification": "None"},
                           "EVSEPresentVoltage": {"Multiplier": 0, "Unit": "V", "Value": 398},
                           "EVSEPresentCurrent": {"Multiplier": -1, "Unit": "A", "Value": 1248},
                           "EVSECurrentLimitAchieved": False,
                           "EVSEVoltageLimitAchieved": False,
                           "EVSEPowerLimitAchieved": False,
                           "EVSEMaximumVoltageLimit": {"Multiplier": 0, "Unit": "V", "Value": 500},
                           "EVSEMaximumCurrentLimit": {"Multiplier": 0, "Unit": "A", "Value": 200},
                           "EVSEMaximumPowerLimit": {"Multiplier": 3, "Unit": "W", "Value": 50}}}}}
REQ_MSG = {"V2G_Message": {"Header": {"SessionID": b"\x01\x02\x03\x04\x05\x06\x07\x08"},
                           "Body": {"CurrentDemandReq": {
                               "DC_EVStatus": {"EVReady": True, "EVCabinConditioning": False,
                                               "EVRESSConditioning": False, "EVErrorCode": "NO_ERROR",
                                               "EVRESSSOC": 55},
                               "EVTargetCurrent": {"Multiplier": -1, "Unit": "A", "Value": 1250},
                               "EVMaximumVoltageLimit": {"Multiplier": 0, "Unit": "V", "Value": 420},
                               "EVMaximumCurrentLimit": {"Multiplier": 0, "Unit": "A", "Value": 200},
                               "EVMaximumPowerLimit": {"Multiplier": 3, "Unit": "W", "Value": 80},
                               "BulkChargingComplete": False,
                               "ChargingComplete": False,
                               "RemainingTimeToFullSoC": {"Multiplier": 0, "Unit": "s", "Value": 1800},
                               "RemainingTimeToBulkSoC": {"Multiplier": 0, "Unit": "s", "Value": 1200},
                               "EVTargetVoltage": {"Multiplier": 0, "Unit": "V", "Value": 400}}}}}
req = din.encode(REQ_MSG)


def cycle():
    m = din.decode(req)
    assert m["V2G_Message"]["Body"]["CurrentDemandReq"]["EVTargetVoltage"]["Value"] == 400
    return din.encode(RES)


cycle()                         # warm up (first-use allocations of the codec)
gc.collect()
gc.disable()
before = gc.mem_alloc()
cycle()
heap = gc.mem_alloc() - before  # bytes allocated by one cycle with the collector off
gc.enable()
gc.collect()
t0 = time.ticks_us()
for _ in range(N):
    cycle()
dt = time.ticks_diff(time.ticks_us(), t0)
print('{"ms_per_cycle": %f, "heap_bytes": %d, "n": %d}' % (dt / 1000.0 / N, heap, N))
