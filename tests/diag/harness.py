"""In-process harness: the real BoxApp (sim HAL) with UDS on the service CAN,
a tester built from the firmware's own ISO-TP core, simulated time."""
import hashlib
import os

import firmware  # noqa: F401
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.app.box import BoxApp
from firmware.can.isotp import IsoTp
from firmware.core.clock import SimClock
from firmware.diag import crypto
from firmware.diag import image as I
from firmware.diag.box import DiagConfig, REQUIRED_MODULES
from firmware.diag.link import REQ_ID, RSP_ID
from firmware.diag.slots import Slots
from firmware.hal.sim import SimFlash, make_sim_hal

SK = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"v2xbox test signing key").digest())
PUB = SK.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
DEVICE_KEY = hashlib.sha256(b"v2xbox test device key").digest()
SERIAL = "V2X-TEST-0001"


def make_image(version=(0, 2, 0), counter=None, board=I.BOARD, modules=None, key=SK, pad=0):
    if modules is None:
        modules = [(n, b"\x4d\x06" + n.encode() * 3) for n in REQUIRED_MODULES]
        if pad:
            modules.append(("firmware/blob.mpy", os.urandom(pad)))
    payload = I.pack_payload(modules)
    v = I.version_int(*version)
    h = I.pack_header(v, v if counter is None else counter, len(payload), board, hashlib.sha256(payload).digest())
    return h + payload + key.sign(h)


def image_flash(sector=128 * 1024, slot_sectors=2):
    return SimFlash(size=(2 + 2 * slot_sectors) * sector, sector_size=sector)


class Box:
    """BoxApp + slots on one image flash; reboot() = power cycle (RAM lost, flash kept)."""

    def __init__(self, flash=None, discharge=False, slot_sectors=2):
        self.flash = flash or image_flash(slot_sectors=slot_sectors)
        self.slot_sectors = slot_sectors
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.discharge = discharge
        self.boot()

    def boot(self):
        self.slots = Slots(self.flash, self.slot_sectors, pubkey=PUB)
        slot, h = self.slots.select()
        self.version = h.version if h is not None else I.version_int(0, 1, 0)
        cfg = DiagConfig(SERIAL, DEVICE_KEY, self.slots, self.version, random=os.urandom)
        self.app = BoxApp(self.hal, discharge=self.discharge, diag=cfg)
        self.app.boot()
        self.tester = IsoTp()
        self.port = self.hal.can["service"]

    def run(self, ms):
        end = self.clock.now_ms() + ms
        while self.clock.now_ms() < end:
            self.step()

    def step(self):
        now = self.clock.now_ms()
        self.app.step()
        for fid, data, ext in self.port.drain():
            if fid == RSP_ID:
                self.tester.receive(data, now)
        self.tester.handle_timer(now)
        for f in self.tester.to_send(now):
            self.port.inject(REQ_ID, f)
        self.clock.advance(1)

    def request(self, req, timeout_ms=6000, pending_ok=True):
        """Send one request, return the final response (skipping 0x78 pending)."""
        assert self.tester.send(bytes(req), self.clock.now_ms())
        end = self.clock.now_ms() + timeout_ms
        while self.clock.now_ms() < end:
            self.step()
            r = self.tester.recv()
            if r is None:
                continue
            if pending_ok and len(r) == 3 and r[0] == 0x7F and r[2] == 0x78:
                end = self.clock.now_ms() + timeout_ms
                continue
            return r
        return None

    def unlock(self, key=DEVICE_KEY):
        r = self.request(b"\x27\x01")
        assert r[:2] == b"\x67\x01", r
        return self.request(b"\x27\x02" + crypto.hmac_sha256(key, r[2:]))

    def enter_programming(self):
        assert self.request(b"\x10\x03")[0] == 0x50
        assert self.request(b"\x10\x02")[0] == 0x50
        assert self.unlock() == b"\x67\x02"

    def download(self, img, block=4093):
        r = self.request(b"\x31\x01\xff\x00")
        assert r == b"\x71\x01\xff\x00\x00", r
        r = self.request(b"\x34\x00\x44" + (0).to_bytes(4, "big") + len(img).to_bytes(4, "big"))
        assert r[0] == 0x74, r
        bsc = 1
        for off in range(0, len(img), block):
            r = self.request(bytes((0x36, bsc)) + img[off:off + block])
            assert r == bytes((0x76, bsc)), r
            bsc = (bsc + 1) & 0xFF
        assert self.request(b"\x37") == b"\x77"
        r = self.request(b"\x31\x01\xff\x01")
        return r[4] if r[:4] == b"\x71\x01\xff\x01" else r

    def power_cycle(self):
        self.clock.advance(10)
        self.boot()
