"""Flashing through a timed CAN bus model, with the firmware's own ISO-TP and
UDS server (firmware.diag) on the device side.

Bus: one shared bus, frames serialised, lower id wins arbitration; each
frame costs its real duration: classic CAN 2.0A bits with the CRC-15
computed and dynamic stuff bits counted; CAN FD (ISO 11898-1:2015) with
dynamic stuffing up to the end of the data field, the stuff count and the
fixed stuff bits of the CRC field, CRC-17/21 length, arbitration and tail
at the nominal rate, the data phase at the data rate (BRS).

Device: the box's main loop every DEVICE_TICK_US (main.py sleeps 1 ms
between passes; firmware.diag serves the service port every 1 ms during a
download). Frames that arrive between ticks wait in the RX ring (board:
filled by the RX interrupt) and are handled at the next tick, where flow
control and responses are queued for the bus. Flash programming time is not
charged (as in the reference ceilings); device CPU time is measured apart
(uds.request_us.*).

Tester: reacts HOST_REACTION_US after each frame it receives (a USB-CAN
adapter + kernel + Python stack, reference can-tooling-flashing.md s1/s4:
~1 ms round trip), runs 0x10 03, 0x10 02, 0x27, 0x31 FF00, 0x34, 0x36 x N,
0x37, 0x31 FF01 and checks every positive response.
"""
import hashlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import firmware  # noqa: E402,F401
from firmware.can.isotp import IsoTp  # noqa: E402
from firmware.diag import crypto  # noqa: E402
from firmware.diag import image as I  # noqa: E402
from firmware.diag import uds as U  # noqa: E402
from firmware.diag.link import REQ_ID, RSP_ID, DiagLink  # noqa: E402
from firmware.diag.slots import Slots  # noqa: E402
from firmware.hal.sim import SimFlash  # noqa: E402

DEVICE_TICK_US = 1000.0
HOST_REACTION_US = 1000.0
DEVICE_KEY = hashlib.sha256(b"bench device key").digest()


# ---------------------------------------------------------------- frame timing
def _bits(v, n):
    return [(v >> (n - 1 - i)) & 1 for i in range(n)]


def _crc15(bits):
    crc = 0
    for b in bits:
        nxt = b ^ ((crc >> 14) & 1)
        crc = (crc << 1) & 0x7FFF
        if nxt:
            crc ^= 0x4599
    return crc


def _stuff_count(bits):
    n = 0
    run = 0
    last = None
    for b in bits:
        if b == last:
            run += 1
        else:
            run = 1
            last = b
        if run == 5:
            n += 1
            last = 1 - b          # the stuff bit starts a new run
            run = 1
    return n


_DLC_FD = {8: 8, 12: 9, 16: 10, 20: 11, 24: 12, 32: 13, 48: 14, 64: 15}


def classic_bits(can_id, data):
    """Bits of a classic 11-bit data frame incl. stuff bits and 3-bit IFS."""
    head = [0] + _bits(can_id, 11) + [0, 0, 0] + _bits(len(data), 4)
    for b in data:
        head += _bits(b, 8)
    body = head + _bits(_crc15(head), 15)
    return len(body) + _stuff_count(body) + 1 + 2 + 7 + 3


def fd_time_us(can_id, data, nominal, dbr):
    """Duration of a CAN FD frame with BRS, 11-bit id."""
    n = len(data)
    arb = [0] + _bits(can_id, 11) + [0, 0, 1, 0, 1]          # SOF id RRS IDE FDF res BRS
    dat = [0] + _bits(_DLC_FD.get(n, n), 4)                  # ESI DLC
    for b in data:
        dat += _bits(b, 8)
    dyn = _stuff_count(arb + dat)
    # split the dynamic stuff bits between phases by position (first in arbitration)
    dyn_arb = _stuff_count(arb)
    crc_len = 17 if n <= 16 else 21
    fixed = (4 + crc_len + 3) // 4 + 1                        # one before the stuff count, one every 4 bits
    data_bits = len(dat) + (dyn - dyn_arb) + 4 + crc_len + fixed
    nominal_bits = len(arb) + dyn_arb + 1 + 2 + 7 + 3         # + CRC delimiter, ACK, EOF, IFS
    return nominal_bits * 1e6 / nominal + data_bits * 1e6 / dbr


class Bus:
    def __init__(self, nominal=500000, fd=False, dbr=2000000):
        self.nominal = nominal
        self.fd = fd
        self.dbr = dbr
        self.busy_us = 0.0
        self.frames = 0
        self._cache = {}

    def duration_us(self, can_id, data):
        key = (can_id, bytes(data))
        d = self._cache.get(key)
        if d is None:
            if self.fd:
                d = fd_time_us(can_id, data, self.nominal, self.dbr)
            else:
                d = classic_bits(can_id, data) * 1e6 / self.nominal
            if len(self._cache) < 4096:
                self._cache[key] = d
        return d


# ---------------------------------------------------------------- the device
class BenchTarget(U.Target):
    def __init__(self, slots):
        self.slots = slots
        self.device_key = DEVICE_KEY
        self._n = 0

    def random(self, n):
        self._n += 1
        return hashlib.sha256(b"seed%d" % self._n).digest()[:n]


def make_device(pub, image_len):
    sector = 128 * 1024
    slot_sectors = (image_len + sector - 1) // sector + 1
    flash = SimFlash(size=(2 + 2 * slot_sectors) * sector, sector_size=sector)
    slots = Slots(flash, slot_sectors, pubkey=pub)
    slots.select()
    return DiagLink(BenchTarget(slots), -2000), slots     # booted 2 s ago: past the SecurityAccess boot delay


# ---------------------------------------------------------------- the run
def flash_over_bus(img, pub, fd=False, nominal=500000, dbr=2000000, block=None):
    """Run a full flash sequence in simulated time; returns a dict of figures."""
    bus = Bus(nominal, fd, dbr)
    link, slots = make_device(pub, len(img))
    link.tp.fd = fd
    link.tp.frame_len = 64 if fd else 8
    tester = IsoTp(fd=fd, block_size=0)
    t = 0.0
    ring = []                    # (arrival_us, frame) at the device, waiting for its next tick
    host_q = []                  # (ready_us, data)
    dev_q = []                   # (ready_us, data)
    next_tick = DEVICE_TICK_US
    bus_free = 0.0
    payload = [0]
    marks = {}

    def client():
        # yields requests, receives responses
        r = yield b"\x10\x03"
        r = yield b"\x10\x02"
        seed = (yield b"\x27\x01")[2:]
        r = yield b"\x27\x02" + crypto.hmac_sha256(DEVICE_KEY, seed)
        assert r == b"\x67\x02", r
        r = yield b"\x31\x01\xff\x00"
        assert r[-1] == 0, r
        r = yield b"\x34\x00\x44" + (0).to_bytes(4, "big") + len(img).to_bytes(4, "big")
        mnbl = int.from_bytes(r[2:4], "big")
        n = (block or mnbl) - 2
        marks["t0"] = t
        seq = 1
        for off in range(0, len(img), n):
            r = yield bytes((0x36, seq)) + img[off:off + n]
            assert r == bytes((0x76, seq)), r[:3]
            payload[0] += len(img[off:off + n])
            seq = (seq + 1) & 0xFF
        marks["t1"] = t
        r = yield b"\x37"
        r = yield b"\x31\x01\xff\x01"
        assert r == b"\x71\x01\xff\x01\x00", r
        marks["t2"] = t

    cl = client()
    req = next(cl)
    tester.send(req, 0)
    for f in tester.to_send(0):
        host_q.append((0.0, bytes(f)))
    done = False
    while not done:
        # 1. device ticks that fall before the bus is free again
        if next_tick <= bus_free:
            t = next_tick
            now_ms = int(t // 1000)
            keep = []
            for at, data in ring:
                if at <= t:
                    link.on_frame(data, now_ms)
                else:
                    keep.append((at, data))
            ring = keep
            for f in link.poll(now_ms):
                dev_q.append((t, bytes(f)))
            next_tick += DEVICE_TICK_US
            continue
        # 2. start the next frame whose sender is ready (tester id 0x7E0 wins arbitration)
        who = None
        if host_q and host_q[0][0] <= bus_free:
            who, data = "h", host_q.pop(0)[1]
        elif dev_q and dev_q[0][0] <= bus_free:
            who, data = "d", dev_q.pop(0)[1]
        if who is None:
            # 3. bus idle until the next sender is ready or the next device tick
            nxt = next_tick
            if host_q:
                nxt = min(nxt, host_q[0][0])
            if dev_q:
                nxt = min(nxt, dev_q[0][0])
            bus_free = max(bus_free, nxt)
            continue
        d = bus.duration_us(REQ_ID if who == "h" else RSP_ID, data)
        bus_free += d
        bus.busy_us += d
        bus.frames += 1
        t = bus_free
        if who == "h":
            ring.append((t, data))
            continue
        now_ms = int(t // 1000)
        tester.receive(data, now_ms)
        react = t + HOST_REACTION_US
        for f in tester.to_send(now_ms):          # CFs after a flow control
            host_q.append((react, bytes(f)))
        msg = tester.recv()
        while msg is not None and not done:
            if not (len(msg) == 3 and msg[0] == 0x7F and msg[2] == 0x78):
                try:
                    nreq = cl.send(msg)
                except StopIteration:
                    done = True
                    break
                tester.send(nreq, now_ms)
                for f in tester.to_send(now_ms):
                    host_q.append((react, bytes(f)))
            msg = tester.recv()
        if t > 3.6e9:
            raise RuntimeError("flash did not finish")
    st = slots.state
    assert st.trial != 0xFF, "image not accepted"
    return {"transfer_s": (marks["t1"] - marks["t0"]) / 1e6, "total_s": marks["t2"] / 1e6, "bytes": len(img),
            "frames": bus.frames, "bus_busy_s": bus.busy_us / 1e6}


def isotp_ceiling_Bps(img, nominal=500000):
    """ISO-TP payload ceiling for this image on classic CAN: back-to-back
    CFs (7 payload bytes each, BS = 0, STmin = 0, no latency), real bits."""
    total = 0.0
    sn = 1
    n = 0
    for off in range(0, len(img), 7):
        chunk = img[off:off + 7]
        f = bytes((0x20 | sn,)) + chunk + b"\xcc" * (7 - len(chunk))
        total += classic_bits(REQ_ID, f)
        sn = (sn + 1) & 15
        n += len(chunk)
    return n / (total / nominal)


def make_image(size, seed=b"bench"):
    """A signed image of `size` bytes whose payload is real .mpy-like bytes:
    the repository's firmware sources repeated (compiled bytecode is not
    needed for bit timing, but its bit pattern should be firmware-like)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = b""
    for dirpath, _d, files in sorted(os.walk(os.path.join(ROOT, "build", "mpy", "firmware"))):
        for f in sorted(files):
            if f.endswith(".mpy"):
                with open(os.path.join(dirpath, f), "rb") as fh:
                    blob += fh.read()
    if not blob:
        blob = os.urandom(65536)
    need = size - I.HEADER_SIZE - I.SIGNATURE_SIZE - 32
    body = (blob * (need // len(blob) + 1))[:need]
    payload = I.pack_payload([("firmware/bench.mpy", body[:need - 32])])
    v = I.version_int(0, 9, 0)
    h = I.pack_header(v, v, len(payload), I.BOARD, hashlib.sha256(payload).digest())
    return h + payload + sk.sign(h), pub


if __name__ == "__main__":
    img, pub = make_image(512 * 1024)
    t0 = time.perf_counter()
    r = flash_over_bus(img, pub)
    print(r, time.perf_counter() - t0, len(img) / r["transfer_s"] / 1000, isotp_ceiling_Bps(img) / 1000)
