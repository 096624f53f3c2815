"""UDS server: sessions, security access, the safety veto, NRCs for
malformed requests, DTCs with freeze frames, configuration DIDs, image
checks (bad signature, wrong board, downgrade) -- and fuzzed requests."""
import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import firmware  # noqa: F401
from firmware.diag import crypto
from firmware.diag import image as I
from firmware.diag import uds as U
from firmware.diag.box import REQUIRED_MODULES
from firmware.hal.sim import SimFlash
from firmware.safety import dtc as D
from firmware.safety.config import Config
from tests.diag.harness import DEVICE_KEY, Box, make_image


class FakeTarget(U.Target):
    def __init__(self):
        self.device_key = DEVICE_KEY
        fl = SimFlash()
        self.config = Config(fl, 0, 2)
        self.config.load()
        self.dtc = D.DtcStore(fl, 2, 4)
        self.dtc.mount()
        self.supported_dtcs = tuple(D.FAULT_DTC) + (D.DTC_EMERGENCY_OPEN, D.DTC_SESSION_FAIL)
        self.is_busy = False
        self.resets = []
        self.comm = None

    def busy(self):
        return self.is_busy

    def random(self, n):
        return os.urandom(n)

    def set_config(self, key, value):
        return self.config.set(key, value, self.is_busy)

    def reset(self, kind):
        self.resets.append(kind)

    def comm_control(self, rx, tx):
        self.comm = (rx, tx)


def server(now=2000):
    t = FakeTarget()
    return t, U.UdsServer(t, 0)


def unlock(s, now=2000, key=DEVICE_KEY):
    seed = s.handle(b"\x27\x01", now)[2:]
    return s.handle(b"\x27\x02" + crypto.hmac_sha256(key, seed), now)


def test_sessions_and_service_gating():
    t, s = server()
    assert s.handle(b"\x10\x02", 2000) == b"\x7f\x10\x7e"      # programming only via extended
    assert s.handle(b"\x2e\x02\x00\x20", 2000) == b"\x7f\x2e\x7f"
    assert s.handle(b"\x27\x01", 2000) == b"\x7f\x27\x7f"
    assert s.handle(b"\x10\x03", 2000) == b"\x50\x03\x00\x32\x01\xf4"
    assert s.handle(b"\x2e\x02\x00\x20", 2000) == b"\x7f\x2e\x33"   # security first
    assert unlock(s) == b"\x67\x02"
    assert s.handle(b"\x2e\x02\x00\x20", 2000) == b"\x6e\x02\x00"
    assert t.config.soc_floor_pct == 0x20
    assert s.handle(b"\x2e\x02\x00\x05", 2000) == b"\x7f\x2e\x31"   # 5 % refused by the config store
    assert t.config.soc_floor_pct == 0x20
    s.poll(2000 + U.S3_MS)                                          # S3 timeout: default, relocked
    assert s.session == U.DEFAULT and not s.unlocked


def test_security_lockout_and_delay():
    t, s = server()
    s.handle(b"\x10\x03", 0)
    assert s.handle(b"\x27\x01", 10) == b"\x7f\x27\x37"            # boot delay
    for k in range(U.MAX_ATTEMPTS):
        assert s.handle(b"\x27\x01", 2000)[:2] == b"\x67\x01"
        r = s.handle(b"\x27\x02" + b"\x00" * 32, 2000)
        assert r == (b"\x7f\x27\x36" if k == U.MAX_ATTEMPTS - 1 else b"\x7f\x27\x35")
    assert s.handle(b"\x27\x01", 2000 + U.LOCKOUT_MS - 1) == b"\x7f\x27\x37"
    assert s.handle(b"\x27\x02" + b"\x00" * 32, 2000 + U.LOCKOUT_MS) == b"\x7f\x27\x24"
    assert unlock(s, 2000 + U.LOCKOUT_MS) == b"\x67\x02"


def test_a_key_for_another_device_is_refused():
    t, s = server()
    s.handle(b"\x10\x03", 0)
    assert unlock(s, key=hashlib.sha256(b"other").digest()) == b"\x7f\x27\x35"


def test_veto_while_discharging():
    t, s = server()
    s.handle(b"\x10\x03", 0)
    unlock(s)
    t.is_busy = True
    for req in (b"\x10\x02", b"\x11\x01", b"\x14\xff\xff\xff", b"\x28\x03\x01", b"\x2e\x02\x00\x20",
                b"\x85\x02", b"\x31\x01\xff\x00"):
        assert s.handle(req, 2000) == bytes((0x7F, req[0], 0x22)), req
    assert t.resets == [] and t.comm is None
    assert s.handle(b"\x22\xf1\x86", 2000) == b"\x62\xf1\x86\x03"  # reading stays allowed
    assert s.handle(b"\x19\x02\xff", 2000)[:2] == b"\x59\x02"


def test_dtc_read_with_freeze_frame_and_clear():
    t, s = server()
    ff = D.Freeze()
    ff.v_inlet, ff.v_link, ff.i_dc, ff.temp, ff.soc, ff.faults, ff.state = 401.5, 399.0, -12.5, 41, 55, 2, 7
    code = D.FAULT_DTC[1]
    t.dtc.failed(code, 123456, ff, True)
    r = s.handle(b"\x19\x02\xff", 0)
    assert r[:3] == b"\x59\x02\xff" and r[3:6] == code.to_bytes(3, "big") and r[6] & D.TF
    assert s.handle(b"\x19\x01\x08", 0) == b"\x59\x01\xff\x01\x00\x01"
    r = s.handle(b"\x19\x04" + code.to_bytes(3, "big") + b"\x01", 0)
    assert r[6:10] == b"\x01\x01\xdf\x00"
    assert r[10:] == U.freeze_bytes(t.dtc.freeze_frame(code))
    assert int.from_bytes(r[10:14], "big") == 123456 and r[19:21] == (-125).to_bytes(2, "big", signed=True)
    assert s.handle(b"\x19\x06" + code.to_bytes(3, "big") + b"\x01", 0)[-2:] == b"\x01\x01"
    assert s.handle(b"\x19\x04\x00\x00\x01\x01", 0) == b"\x7f\x19\x31"
    assert s.handle(b"\x14\xff\xff\xff", 0) == b"\x54"
    assert s.handle(b"\x19\x02\xff", 0) == b"\x59\x02\xff"


@pytest.mark.parametrize("req,nrc", [
    (b"\x10", 0x13), (b"\x10\x03\x00", 0x13), (b"\x10\x09", 0x12), (b"\x11\x05", 0x12),
    (b"\x22", 0x13), (b"\x22\xf1", 0x13), (b"\x22\x12\x34", 0x31), (b"\x19", 0x13), (b"\x19\x42", 0x12),
    (b"\x19\x02", 0x13), (b"\x14\xff\xff", 0x13), (b"\x14\x12\x34\x56", 0x31), (b"\x3e\x01", 0x12),
    (b"\x3e", 0x13), (b"\x99", 0x11), (b"\x34\x00\x44\x00", 0x7F), (b"\x36\x01", 0x7F), (b"\x37", 0x7F),
    (b"\x31\x01\xff\x00", 0x7F), (b"\x28\x00\x01", 0x7F), (b"\x85\x01", 0x7F),
])
def test_malformed_requests_get_the_right_nrc(req, nrc):
    t, s = server()
    assert s.handle(req, 2000) == bytes((0x7F, req[0], nrc))


def test_programming_sequence_errors():
    t, s = server()
    b = Box()
    b.run(1100)
    b.enter_programming()
    assert b.request(b"\x36\x01\x00") == b"\x7f\x36\x24"        # no download requested
    assert b.request(b"\x34\x00\x44" + bytes(8)) == b"\x7f\x34\x31"  # size 0
    assert b.request(b"\x34\x00\x44\x00\x00\x00\x00\x00\x00\x10\x00") == b"\x7f\x34\x22"  # not erased
    assert b.request(b"\x31\x01\xff\x01") == b"\x7f\x31\x24"     # check before any transfer
    assert b.request(b"\x31\x01\xff\x00") == b"\x71\x01\xff\x00\x00"
    assert b.request(b"\x34\x11\x44\x00\x00\x00\x00\x00\x00\x10\x00") == b"\x7f\x34\x31"  # compressed
    assert b.request(b"\x34\x00\x44\x00\x00\x00\x00\x00\x00\x00\x40")[0] == 0x74
    assert b.request(b"\x36\x02" + bytes(8)) == b"\x7f\x36\x73"  # wrong counter
    assert b.request(b"\x36\x01" + bytes(8)) == b"\x76\x01"
    assert b.request(b"\x36\x01" + bytes(8)) == b"\x76\x01"      # repeated block: not written twice
    assert b.request(b"\x37") == b"\x7f\x37\x24"                # 8 of 64 bytes
    assert b.request(b"\x36\x02" + bytes(57)) == b"\x7f\x36\x71"  # more than requested


def _check(img, box=None):
    b = box or Box()
    b.run(1100)
    b.enter_programming()
    return b.download(img), b


def test_image_checks_on_the_device():
    good = make_image(version=(0, 3, 0))
    res, b = _check(good)
    assert res == I.OK
    bad = bytearray(good)
    bad[I.HEADER_SIZE + 20] ^= 1
    assert _check(bytes(bad))[0] == I.E_HASH
    other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"attacker").digest())
    assert _check(make_image(key=other))[0] == I.E_SIGNATURE
    assert _check(make_image(board="V2XBOX-OTHER"))[0] == I.E_BOARD
    assert _check(b"\x00" * 300)[0] == I.E_MAGIC
    assert _check(make_image(modules=[("firmware/main.mpy", b"x")]))[0] == I.E_PAYLOAD
    # anti-rollback: install and confirm 0.3.0, then 0.2.0 is refused
    b.request(b"\x11\x01")
    b.power_cycle()
    b.run(2500)
    assert b.slots.state.confirmed == b.slots.running and b.slots.state.counter == I.version_int(0, 3, 0)
    res, b = _check(make_image(version=(0, 2, 0)), b)
    assert res == I.E_DOWNGRADE
    b.request(b"\x11\x01")
    b.power_cycle()
    assert b.version == I.version_int(0, 3, 0)


def test_resume_after_interrupted_transfer():
    b = Box()
    b.run(1100)
    b.enter_programming()
    img = make_image(pad=10000)
    assert b.request(b"\x31\x01\xff\x00")[-1] == 0
    assert b.request(b"\x34\x00\x44" + bytes(4) + len(img).to_bytes(4, "big"))[0] == 0x74
    assert b.request(b"\x36\x01" + img[:4093]) == b"\x76\x01"
    b.run(U.S3_MS + 10)                                    # tester gone: back to default, relocked
    b.enter_programming()
    got = b.request(b"\x22\xf1\xa0")
    rcv = int.from_bytes(got[-4:], "big")
    assert rcv == 4093
    assert b.request(b"\x34\x00\x44" + (100).to_bytes(4, "big") + len(img).to_bytes(4, "big")) == b"\x7f\x34\x31"
    assert b.request(b"\x34\x00\x44" + rcv.to_bytes(4, "big") + len(img).to_bytes(4, "big"))[0] == 0x74
    bsc = 1
    for off in range(rcv, len(img), 4093):
        assert b.request(bytes((0x36, bsc)) + img[off:off + 4093]) == bytes((0x76, bsc))
        bsc += 1
    assert b.request(b"\x37") == b"\x77"
    assert b.request(b"\x31\x01\xff\x01")[-1] == I.OK


def test_suppress_positive_response():
    t, s = server()
    assert s.handle(b"\x3e\x80", 0) is None
    assert s.handle(b"\x10\x83", 0) is None and s.session == U.EXTENDED
    assert s.handle(b"\x10\x89", 0) == b"\x7f\x10\x12"     # negatives are never suppressed


SIDS = st.sampled_from([0x10, 0x11, 0x14, 0x19, 0x22, 0x27, 0x28, 0x2E, 0x31, 0x34, 0x36, 0x37, 0x3E, 0x85,
                        0x00, 0x23, 0x3D, 0xFF])
KNOWN_NRC = {0x10, 0x11, 0x12, 0x13, 0x14, 0x22, 0x24, 0x31, 0x33, 0x35, 0x36, 0x37, 0x70, 0x71, 0x72, 0x73,
             0x78, 0x7E, 0x7F}


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(SIDS, st.binary(max_size=40)), min_size=1, max_size=25), st.booleans(),
       st.sampled_from([b"", b"\x10\x03", b"\x10\x03\x10\x02"]))
def test_fuzzed_requests_never_crash_the_server(reqs, busy, prelude):
    t, s = server()
    t.is_busy = busy
    now = 2000
    if prelude:
        for i in range(0, len(prelude), 2):
            s.handle(prelude[i:i + 2], now)
        unlock(s, now)
    for sid, body in reqs:
        req = bytes((sid,)) + body
        r = s.handle(req, now)
        for extra in s.poll(now):
            assert extra[0] in (0x71, 0x7F)
        now += 3
        if r is None:
            continue
        if r[0] == 0x7F:
            assert r[1] == sid and r[2] in KNOWN_NRC and len(r) == 3, (req, r)
        else:
            assert r[0] == sid + 0x40, (req, r)
    if busy:
        assert t.resets == [] and t.comm is None
