"""Device-side cost of one UDS request through the firmware's ISO-TP + UDS
server (ReadDataByIdentifier F186 in a single frame, response frames out),
and of one ISO-TP consecutive frame. Runs on CPython and inside MicroPython;
prints one JSON line."""
import json

import firmware  # noqa: F401
from firmware.diag import uds as U
from firmware.diag.link import DiagLink
from stopwatch import elapsed_us, now_us


class T(U.Target):
    def random(self, n):
        return bytes(n)


def main():
    link = DiagLink(T(), 0)
    req = bytes((0x03, 0x22, 0xF1, 0x86, 0xCC, 0xCC, 0xCC, 0xCC))
    n = 300
    for _ in range(20):
        link.on_frame(req, 10)
        link.poll(10)
    t0 = now_us()
    for _ in range(n):
        link.on_frame(req, 10)
        out = link.poll(10)
    per_req = elapsed_us(t0) / n
    assert out and out[0][1] == 0x62
    # consecutive frames of one long request (a 4095-byte 0x3E would be malformed, fine: CF cost only)
    tp = link.tp
    cfs = []
    sn = 1
    for k in range(585):
        cfs.append(bytes((0x20 | sn, 1, 2, 3, 4, 5, 6, 7)))
        sn = (sn + 1) & 15
    ff = bytes((0x1F, 0xFF, 0x36, 0x01, 0, 0, 0, 0))
    tp.receive(ff, 10)
    tp.to_send(10)
    t0 = now_us()
    for f in cfs:
        tp.receive(f, 10)
    per_cf = elapsed_us(t0) / len(cfs)
    print(json.dumps({"request_us": per_req, "cf_us": per_cf}))


main()
