"""CCS link-layer metrics for `make bench` (issue 10).

    slac.match_ms.sim            CM_SLAC_PARM.REQ -> CM_SLAC_MATCH.CNF, simulated time, the EVSE core
                                 against a PEV with the reference pev's timing (no modem profile)
    slac.match_ms.wall           the same span against the real `pev` (plc-utils-extra) over veth +
                                 emulated modems, wall-clock (needs root)
    net.tcp_segment_us.micropython   per received 200-byte TCP segment (in, ACK out, event), MicroPython
    net.v2gtp_roundtrip_us.micropython  per request/response exchange at the TCP layer, MicroPython
    net.heap_bytes.micropython   heap of a stack with one established connection, MicroPython
    net.tcp_goodput_kBps         kernel -> box bulk transfer over a veth (box = firmware stack on
                                 CPython over AF_PACKET; needs root)
"""
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import common  # noqa: E402
import firmware  # noqa: E402,F401


def _slac():
    from hil.ccs import slac_interop, slac_sim
    parm, match, _core = slac_sim.run_match()
    out = {"slac.match_ms.sim": {"value": match - parm, "unit": "ms"}}
    walls = []
    for _ in range(3):
        r = slac_interop.run_pev_match()
        if r.pev_rc != 0 or r.match_ms is None:
            raise RuntimeError("pev did not match: " + r.pev_out[-500:])
        walls.append(r.match_ms - r.parm_ms)
    out["slac.match_ms.wall"] = {"value": sorted(walls)[1], "unit": "ms"}
    return out


def _mpy():
    m = common.run_micropython(os.path.join(HERE, "mpy_net.py"), 300)
    return {
        "net.tcp_segment_us.micropython": {"value": round(m["seg_us"], 1), "unit": "us"},
        "net.v2gtp_roundtrip_us.micropython": {"value": round(m["roundtrip_us"], 1), "unit": "us"},
        "net.heap_bytes.micropython": {"value": m["heap_bytes"], "unit": "B"},
    }


def _goodput(total=2_000_000):
    from hil.ccs import netns
    from hil.ccs import tcp_interop as ti
    with netns.topology() as topo:
        ns_ev, ns_box, bridge = ti.make_topology(topo, direct=True)
        box = ti.BoxRunner(ns_box, "plc0").start()
        try:
            peer = ti.KernelPeer(ns_ev, "ev0")
            data, _ = peer.sdp()
            s = peer.connect(data[8:24], struct.unpack(">H", data[24:26])[0])
            s.settimeout(60)
            chunk = bytes(65536)
            t0 = time.monotonic()
            s.sendall(ti.v2gtp(ti.PT_BULK, b"")[:4] + struct.pack(">I", total))
            left = total
            while left:
                n = min(left, len(chunk))
                s.sendall(chunk[:n])
                left -= n
            _h, _pt, body = ti.recv_v2gtp(s)
            dt = time.monotonic() - t0
            if struct.unpack(">I", body)[0] != total:
                raise RuntimeError("bulk count mismatch")
            s.close()
        finally:
            box.stop()
            if bridge is not None:
                bridge.stop()
    return {"net.tcp_goodput_kBps": {"value": round(total / 1000.0 / dt, 1), "unit": "kB/s"}}


def collect():
    out = {}
    out.update(_mpy())
    out.update(_slac())
    out.update(_goodput())
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(collect(), indent=1))
