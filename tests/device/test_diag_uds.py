"""firmware.diag on the device: HMAC/SHA-512/Ed25519 (RFC vectors), ISO-TP
round trips through two cores, the UDS server's sessions/security/NRCs, and
an image written, checked, trial-booted, confirmed and reverted on sim flash.
Runs on CPython and inside MicroPython."""
import hashlib
import struct

import firmware  # noqa: F401
from firmware.can.isotp import IsoTp
from firmware.diag import crypto as C
from firmware.diag import image as I
from firmware.diag import uds as U
from firmware.diag.slots import NONE, SlotWriter, Slots
from firmware.hal.sim import SimFlash

# RFC 8032 s7.1 TEST 2 / TEST 1 (secret keys are not needed: verify only)
PUB2 = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
SIG2 = bytes.fromhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
PUB1 = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SIG1 = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                     "d25bf5f0595bbe24655141438e7a100b")
KEY = b"\x0b" * 20


def test_hmac_sha256_rfc4231_case1():
    assert C.hmac_sha256(KEY, b"Hi There") == bytes.fromhex(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")


def test_sha512_fips_vector():
    assert C.sha512(b"abc") == bytes.fromhex(
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
        "454d4423643ce80e2a9ac94fa54ca49f")
    assert C.sha512(b"a" * 200) == C.sha512(b"a" * 100 + b"a" * 100)


def test_ed25519_rfc8032_vectors():
    assert C.ed25519_verify(PUB1, b"", SIG1)
    assert C.ed25519_verify(PUB2, b"\x72", SIG2)
    assert not C.ed25519_verify(PUB2, b"\x73", SIG2)
    bad = bytearray(SIG2)
    bad[40] ^= 1
    assert not C.ed25519_verify(PUB2, b"\x72", bytes(bad))
    assert not C.ed25519_verify(PUB2[:31], b"\x72", SIG2)


def _pump(a, b, now=0, rounds=2000):
    for _ in range(rounds):
        moved = False
        for f in a.to_send(now):
            b.receive(f, now)
            moved = True
        for f in b.to_send(now):
            a.receive(f, now)
            moved = True
        if not moved:
            break


def test_isotp_round_trips_classic_and_fd():
    for fd in (False, True):
        for n in (1, 7, 8, 62, 63, 300, 4095, 5000):
            if n > 4095 and not fd:
                continue
            tx = IsoTp(fd=fd)
            rx = IsoTp(fd=fd, max_rx=8192)
            data = bytes((i * 7) & 0xFF for i in range(n))
            assert tx.send(data, 0)
            _pump(tx, rx)
            assert rx.recv() == data, (fd, n)
            assert not tx.busy()


class Tgt(U.Target):
    device_key = KEY

    def __init__(self):
        self.n = 0
        self.busy_flag = False

    def random(self, n):
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(n))

    def busy(self):
        return self.busy_flag


def test_uds_sessions_security_and_nrcs():
    t = Tgt()
    s = U.UdsServer(t, 0)
    assert s.handle(b"\x99", 2000) == b"\x7f\x99\x11"
    assert s.handle(b"\x10", 2000) == b"\x7f\x10\x13"
    assert s.handle(b"\x27\x01", 2000) == b"\x7f\x27\x7f"
    assert s.handle(b"\x10\x03", 2000)[:2] == b"\x50\x03"
    seed = s.handle(b"\x27\x01", 2000)[2:]
    assert s.handle(b"\x27\x02" + b"\x00" * 32, 2000) == b"\x7f\x27\x35"
    seed = s.handle(b"\x27\x01", 2000)[2:]
    assert s.handle(b"\x27\x02" + C.hmac_sha256(KEY, seed), 2000) == b"\x67\x02"
    t.busy_flag = True
    assert s.handle(b"\x11\x01", 2000) == b"\x7f\x11\x22"
    assert s.handle(b"\x22\xf1\x86", 2000) == b"\x62\xf1\x86\x03"


def _image(version, payload):
    h = I.pack_header(version, version, len(payload), I.BOARD, hashlib.sha256(payload).digest())
    return h + payload


def test_slots_write_check_trial_confirm_and_revert():
    fl = SimFlash(size=6 * 4096, sector_size=4096)
    s = Slots(fl, 2, pubkey=PUB2)
    assert s.select() == (NONE, None)
    payload = I.pack_payload([("firmware/main.mpy", b"M" * 100)])
    img = _image(I.version_int(0, 2, 0), payload) + b"\x00" * I.SIGNATURE_SIZE    # unsigned: must not boot
    w = SlotWriter(s, 0, len(img))
    for k in range(0, len(img), 50):
        w.write(img[k:k + 50])
    assert w.finish()
    res, h = s.verify_slot(0)
    assert res == I.E_SIGNATURE and h.size == len(payload)
    s.mark_trial(0, res)
    assert s.state.trial == NONE and s.state.last_result == I.E_SIGNATURE
    # a trial that is never confirmed is reverted (state machine only: signature faked as OK)
    s.state.trial = 0
    st = s.state.copy()
    st.trial = 0
    st.trial_boots = 1
    s.save_state(st)
    s2 = Slots(fl, 2, pubkey=PUB2)
    assert s2.select() == (NONE, None) and s2.state.trial == NONE
    assert struct.unpack("<I", fl.read(2 * 4096 + 8, 4))[0] == I.version_int(0, 2, 0)
