# Runs on CPython and inside MicroPython (node tools/mpy/run.mjs --script bench/secc_currentdemand.py [N]):
# the firmware SECC's whole CurrentDemand path - transport poll, V2GTP deframing, EXI decode,
# the DIN core (port limits, reported values), EXI encode, framing, send - in a running
# session over the in-memory transport. Prints one JSON line: mean and p99 ms per request,
# and heap allocated by one request (MicroPython only).
import gc
import sys

from stopwatch import MICRO, elapsed_us, now_us

if not MICRO:   # the repository root (MicroPython's runner has /repo on the path already)
    sys.path.insert(0, __file__.replace("\\", "/").rsplit("/", 2)[0] or ".")

import firmware  # noqa: E402,F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import v2gtp
from firmware.protocols.ccs.secc import Secc
from firmware.protocols.ccs.transport import MemoryTransport
from firmware.v2g.exi import codec_for
from tests.device import test_protocols_ccs_din as D

try:
    _argv = ARGV  # noqa: F821  (set by tools/mpy/run.mjs)
except NameError:
    _argv = sys.argv
N = int(_argv[1]) if len(_argv) > 1 else 200

t = MemoryTransport()
port = P.SimPort()
s = Secc(t, port, {"session_id_fn": lambda: D.SID})
s.open(0)
cid = t.ev_connect()
sap = {"supportedAppProtocolReq": {"AppProtocol": [
    {"ProtocolNamespace": D.DIN_NS, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1}]}}
t.ev_send(cid, v2gtp.frame(v2gtp.EXI, codec_for("app").encode(sap)))
s.step(0)
t.ev_recv(cid)
now = D._drive_to_loop(s.conn.core, port, 0)
req = v2gtp.frame(v2gtp.EXI, codec_for("din").encode(D._req("CurrentDemandReq", D.CD)))


def one(now):
    t.ev_send(cid, req)
    s.step(now)
    out = t.ev_recv(cid)
    if len(out) < 20:
        raise SystemExit("no CurrentDemandRes")


for _ in range(5):
    now += 100
    one(now)
times = []
for _ in range(N):
    now += 100
    t0 = now_us()
    one(now)
    times.append(elapsed_us(t0))
heap = -1
if MICRO:
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()  # type: ignore[attr-defined]
    one(now + 100)
    heap = gc.mem_alloc() - before  # type: ignore[attr-defined]
    gc.enable()
times.sort()
print('{"mean_ms": %.4f, "p50_ms": %.4f, "p99_ms": %.4f, "heap_bytes": %d, "n": %d}' % (
    sum(times) / len(times) / 1000.0, times[len(times) // 2] / 1000.0,
    times[min(len(times) - 1, int(0.99 * len(times)))] / 1000.0, heap, N))
