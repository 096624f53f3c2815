# Runs on CPython and inside MicroPython (node tools/mpy/run.mjs --script bench/mpy_net.py [N]):
# cost of the box's own IPv6/TCP stack per received data segment (in, ACK out, event out) and
# per V2GTP request/response round trip (request segment in, response out, the car's ACK in),
# plus the heap of a stack with one established connection. One JSON line.
import gc
import sys

import firmware  # noqa: F401
from firmware.protocols.ccs.net import ipv6, tcp
from firmware.protocols.ccs.net.stack import Stack
from stopwatch import elapsed_us, now_us

try:
    _argv = ARGV  # noqa: F821  (set by tools/mpy/run.mjs)
except NameError:
    _argv = sys.argv
N = int(_argv[1]) if len(_argv) > 1 else 200

BOX = b"\x02\xb0\xc5\x00\x00\x01"
CAR = b"\x02\xee\x00\x00\x00\x02"
CAR_IP = ipv6.link_local_from_mac(CAR)
BOX_IP = ipv6.link_local_from_mac(BOX)
PORT = 50000


def rng(n):
    return bytes(range(1, n + 1))


def seg(seq, ack, flags, data=b"", mss=0):
    return bytes(ipv6.frame(BOX, CAR, CAR_IP, BOX_IP, ipv6.NH_TCP,
                            tcp.build(CAR_IP, BOX_IP, 40000, PORT, seq, ack, flags, 8192, data, mss)))


def established():
    s = Stack(BOX, rng)
    s.listen(PORT)
    s.receive(seg(1000, 0, tcp.SYN, mss=1440), 0)
    sa = s.to_send()[0]
    iss = (sa[58] << 24) | (sa[59] << 16) | (sa[60] << 8) | sa[61]
    s.receive(seg(1001, (iss + 1) & 0xFFFFFFFF, tcp.ACK), 0)
    cid = s.events()[0][1]
    return s, cid, (iss + 1) & 0xFFFFFFFF


_mem = getattr(gc, "mem_alloc", None)     # MicroPython only
gc.collect()
h0 = _mem() if _mem else 0
s, cid, snd = established()
gc.collect()
heap = (_mem() - h0) if _mem else -1

# per data segment: 200-byte V2GTP-sized segments, in order
payload = bytes(200)
segs = [seg(1001 + 200 * i, snd, tcp.ACK | tcp.PSH, payload) for i in range(N)]
t0 = now_us()
for f in segs:
    s.receive(f, 1)
    s.to_send()
    s.events()
seg_us = elapsed_us(t0) / N

# request/response round trip on a fresh connection
s, cid, snd = established()
req = bytes(60)
res = bytes(120)
rseq = 1001
reqs = []
acks = []
for i in range(N):
    reqs.append(seg(rseq + 60 * i, (snd + 120 * i) & 0xFFFFFFFF, tcp.ACK | tcp.PSH, req))
    acks.append(seg(rseq + 60 * (i + 1), (snd + 120 * (i + 1)) & 0xFFFFFFFF, tcp.ACK))
t0 = now_us()
for i in range(N):
    s.receive(reqs[i], i)
    for e in s.events():
        if e[0] == "data":
            s.tcp_send(cid, res, i)
    s.to_send()
    s.receive(acks[i], i)
rt_us = elapsed_us(t0) / N
assert s.conn(cid).snd_una == (snd + 120 * N) & 0xFFFFFFFF

print('{"seg_us": %.2f, "roundtrip_us": %.2f, "heap_bytes": %d, "n": %d}' % (seg_us, rt_us, heap, N))
