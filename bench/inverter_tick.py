"""Inverter supervisory loop cost, runnable on CPython and inside MicroPython:
one Supervisory.tick (100 Hz loop on the main controller) with fresh status
frames, averaged over 2000 ticks. Prints one JSON line: tick_us, heap bytes
per tick (MicroPython only)."""
import gc
import json

from stopwatch import MICRO, elapsed_us, now_us  # noqa: E402  (bench/stopwatch.py)
import firmware  # noqa: F401
from firmware.can.gen import power_stage as ps
from inverter.controller import supervisory as SV

DCDC = {"InletVoltage": 380.0, "InletCurrent": 9.5, "DcLinkVoltage": 420.0, "DcDcState": 2,
        "DcDcDerating": 0, "AliveCounter": 0}
INV = {"AcVoltageRms": 229.4, "AcCurrentRms": 15.6, "AcFrequency": 50.0, "AcActivePower": 3580.0}
TEMP = {"TempDcDcPrimary": 45, "TempDcDcSecondary": 40, "TempTransformer": 50, "TempInverterBridge": 55,
        "TempAcFilter": 40, "TempPscMcu": 35, "FanDuty": 20}


def measure(n=2000):
    sv = SV.Supervisory(SV.PROFILE_230_50, 3600, 20, cable_a=16)
    sv.car_limits(25.0, 20000.0, 300.0, 60.0)
    t = 0
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc() if MICRO else 0
    t0 = now_us()
    for _ in range(n):
        sv.rx(ps.ID_PsDcDcStatus, DCDC, t)
        sv.rx(ps.ID_PsInverterStatus, INV, t)
        if t % 100 == 0:
            sv.rx(ps.ID_PsTemperatures, TEMP, t)
        sv.tick(t, True)
        sv.outlet_offer()
        t += 10
    us = elapsed_us(t0)
    heap = (gc.mem_alloc() - a0) if MICRO else 0
    gc.enable()
    return {"tick_us": us / n, "heap_per_tick_bytes": heap / n}


print(json.dumps(measure()))
