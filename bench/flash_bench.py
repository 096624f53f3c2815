"""Flashing figures (issue 13): a 512 KiB signed image through the timed bus
model (bench/flash_model.py) with the firmware's ISO-TP and UDS server on the
device side, classic CAN 500 kbit/s and CAN FD 500 k/2 Mbit/s; plus the
device cost of one UDS request on both interpreters."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import flash_model as FM  # noqa: E402

IMAGE_BYTES = 512 * 1024


def collect():
    img, pub = FM.make_image(IMAGE_BYTES)
    t0 = time.perf_counter()
    c = FM.flash_over_bus(img, pub, fd=False, nominal=500000)
    wall = time.perf_counter() - t0
    f = FM.flash_over_bus(img, pub, fd=True, nominal=500000, dbr=2000000)
    ceiling = FM.isotp_ceiling_Bps(img, 500000)
    kbps = len(img) / c["transfer_s"]
    script = os.path.join(HERE, "uds_request.py")
    cp = common.run_cpython(script)
    mp = common.run_micropython(script)
    return {
        "flash.kBps_500k": {"value": round(kbps / 1000, 2), "unit": "kB/s"},
        "flash.isotp_ceiling_kBps_500k": {"value": round(ceiling / 1000, 2), "unit": "kB/s"},
        "flash.ratio_vs_isotp_ceiling": {"value": round(kbps / ceiling, 3), "unit": "x"},
        "flash.s_512KiB_500k": {"value": round(c["total_s"], 2), "unit": "s"},
        "flash.kBps_fd2m": {"value": round(len(img) / f["transfer_s"] / 1000, 2), "unit": "kB/s"},
        "flash.s_512KiB_fd2m": {"value": round(f["total_s"], 2), "unit": "s"},
        "flash.wall_s": {"value": round(wall, 2), "unit": "s"},
        "uds.request_us.cpython": {"value": round(cp["request_us"], 2), "unit": "us"},
        "uds.request_us.micropython": {"value": round(mp["request_us"], 1), "unit": "us"},
        "isotp.cf_us.micropython": {"value": round(mp["cf_us"], 1), "unit": "us"},
    }


if __name__ == "__main__":
    for k, v in collect().items():
        print(k, v)
