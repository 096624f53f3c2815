"""CRC, journal, DTC status bits and config validation (CPython and MicroPython)."""
import firmware  # noqa: F401
from firmware.hal.sim import PowerLoss, SimFlash
from firmware.safety import dtc as D
from firmware.safety.config import Config
from firmware.safety.crc import crc32
from firmware.safety.journal import Journal


def test_crc32_check_value():
    assert crc32(b"123456789") == 0xCBF43926
    assert crc32(b"") == 0
    assert crc32(b"6789", crc32(b"12345")) == 0xCBF43926


def test_journal_roundtrip_and_torn_tail():
    f = SimFlash(size=4 * 512, sector_size=512)
    j = Journal(f, 0, 3)
    got = []
    j.mount(lambda t, s, p, a: got.append(bytes(p)))
    for i in range(5):
        j.append(1, bytes([i]) * 10, lambda: [])
    f.tear_after_bytes = f.bytes_written + 7           # cut the 6th record short
    try:
        j.append(1, b"torn-record", lambda: [])
        assert False, "expected a power loss"
    except PowerLoss:
        pass
    f.tear_after_bytes = None
    got = []
    j2 = Journal(f, 0, 3)
    j2.mount(lambda t, s, p, a: got.append(bytes(p)))
    assert got == [bytes([i]) * 10 for i in range(5)]
    assert j2.dirty


def test_dtc_status_bits_follow_iso14229():
    s = D.DtcStore(SimFlash(), 2, 4)
    s.mount()
    c = D.FAULT_DTC[1]
    assert s.status(c) == D.STATUS_AFTER_CLEAR
    ff = D.Freeze()
    ff.v_inlet = 401.5
    ff.soc = 55
    s.failed(c, 1234, ff)
    st = s.status(c)
    assert st & D.TF and st & D.TFTOC and st & D.PDTC and st & D.CDTC and st & D.TFSLC
    assert not st & (D.TNCSLC | D.TNCTOC)
    s.passed(c)
    assert not s.status(c) & D.TF and s.status(c) & D.CDTC
    s.new_cycle()
    st = s.status(c)
    assert not st & D.TFTOC and st & D.TNCTOC and st & D.PDTC   # failed in the cycle that ended
    s.passed(c)
    s.new_cycle()
    assert not s.status(c) & D.PDTC                              # a clean cycle clears pending
    assert s.freeze_frame(c)[0] == 1234 and s.freeze_frame(c)[2] == 401.5 and s.freeze_frame(c)[6] == 55
    assert s.by_status_mask(D.CDTC) == [(c, s.status(c))]
    assert D.text(c) == "P1A01-00"
    # persisted
    s2 = D.DtcStore(s.j.flash, 2, 4)
    s2.mount()
    assert s2.status(c) == s.status(c) and s2.occurrences(c) == 1 and s2.cycle == 2
    s2.clear()
    s3 = D.DtcStore(s.j.flash, 2, 4)
    s3.mount()
    assert s3.by_status_mask(0xFF) == []


def test_confirmed_dtc_ages_out():
    s = D.DtcStore(SimFlash(), 2, 4)
    s.mount()
    c = D.FAULT_DTC[2]
    s.failed(c, 0, None, True)
    s.passed(c)
    for _ in range(D.AGING_CYCLES + 1):
        s.new_cycle()
        s.passed(c)
    assert not s.status(c) & (D.CDTC | D.WIR)


def test_config_refuses_with_reason_and_keeps_previous():
    f = SimFlash()
    c = Config(f, 0, 2)
    c.load()
    assert c.soc_floor_pct == 20
    for key, val in (("soc_floor_pct", 5), ("soc_floor_pct", 95), ("soc_floor_pct", "30"),
                     ("soc_floor_pct", True), ("max_power_w", 100), ("max_power_w", 9000),
                     ("profile", "400V/50Hz"), ("mode", "V2G"), ("mode", 7), ("colour", 1)):
        before = c.as_dict()
        ok, why = c.set(key, val)
        assert not ok and len(why) > 10, (key, val)
        assert c.as_dict() == before
    ok, why = c.set("profile", "120V/60Hz")
    assert not ok and "3600" in why                    # 7200 W does not fit 120 V
    assert c.set("max_power_w", 3000) == (True, "")
    assert c.set("profile", "120v/60hz") == (True, "")
    ok, why = c.set("mode", "V2V", busy=True)
    assert not ok and "in use" in why
    assert c.set("soc_floor_pct", 35, busy=True) == (True, "")
    c2 = Config(f, 0, 2)
    assert c2.load()
    assert c2.as_dict() == {"soc_floor_pct": 35, "max_power_w": 3000, "profile": "120V/60Hz", "mode": "V2L"}
