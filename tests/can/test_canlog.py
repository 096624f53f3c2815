"""`v2xbox log`: record / replay / convert / decode with python-can's
formats (BLF, ASC, MF4 via asammdf). Buses are python-can `virtual`
(in-process) only."""
import json
import threading
import time

import can
import pytest

import firmware  # noqa: F401
from firmware.can.gen import box, chademo
from host_tools import canlog, cli

FORMATS = ["blf", "asc", "mf4"]


def _frames():
    """A small session-like mix: CHAdeMO frames, a box heartbeat, an ISO-TP frame."""
    hb = {"UptimeS": 12.34, "AliveCounter": 3, "SessionState": 7, "FwVersionMajor": 0, "FwVersionMinor": 1,
          "FaultActive": 0, "LoopLoadPct": 12}
    raw = [
        (0x102, bytes.fromhex("029A011F00814800")),
        (0x108, bytes.fromhex("01F4011FB3010000")),
        (0x109, bytes.fromhex("0281011F0005FF4F")),
        (0x200, bytes.fromhex("FF000000FA000A64")),
        (0x208, bytes.fromhex("FFF401F00000FA00")),
        (0x500, box.encode(box.ID_BoxHeartbeat, hb)),
        (0x7E0, bytes.fromhex("0322F190CCCCCCCC")),
    ]
    return [can.Message(timestamp=1763780000.0 + i * 0.01, arbitration_id=fid, data=data, is_extended_id=False,
                        channel=0) for i, (fid, data) in enumerate(raw * 3)]


def _write(path, msgs):
    with can.Logger(str(path)) as lg:
        for m in msgs:
            lg.on_message_received(m)


def _read(path):
    r = canlog.open_reader(str(path))
    try:
        return list(r)
    finally:
        getattr(r, "stop", lambda: None)()


def _same(a, b):
    """Same frames; same absolute start (ASC keeps it to the ms) and the
    same spacing to the microsecond."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.arbitration_id, bytes(x.data), x.is_extended_id, x.dlc) == \
               (y.arbitration_id, bytes(y.data), y.is_extended_id, y.dlc)
        assert abs(x.timestamp - y.timestamp) < 1.5e-3
        assert abs((x.timestamp - a[0].timestamp) - (y.timestamp - b[0].timestamp)) < 2e-6


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_read_round_trip(tmp_path, fmt):
    msgs = _frames()
    p = tmp_path / ("a." + fmt)
    _write(p, msgs)
    _same(_read(p), msgs)


@pytest.mark.parametrize("src,dst", [(a, b) for a in FORMATS for b in FORMATS if a != b])
def test_convert_between_formats_keeps_every_frame(tmp_path, src, dst):
    msgs = _frames()
    ps, pd = tmp_path / ("s." + src), tmp_path / ("d." + dst)
    _write(ps, msgs)
    assert cli.main(["log", "convert", str(ps), str(pd)]) == 0
    _same(_read(pd), msgs)


def test_convert_chain_blf_asc_mf4_blf(tmp_path):
    msgs = _frames()
    _write(tmp_path / "0.blf", msgs)
    assert canlog.convert(str(tmp_path / "0.blf"), str(tmp_path / "1.asc")) == len(msgs)
    assert canlog.convert(str(tmp_path / "1.asc"), str(tmp_path / "2.mf4")) == len(msgs)
    assert canlog.convert(str(tmp_path / "2.mf4"), str(tmp_path / "3.blf")) == len(msgs)
    _same(_read(tmp_path / "3.blf"), msgs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_record_from_a_virtual_bus(tmp_path, fmt):
    chan = "rec-%s-%d" % (fmt, id(tmp_path))
    out = tmp_path / ("rec." + fmt)
    msgs = _frames()
    rc = []
    t = threading.Thread(target=lambda: rc.append(cli.main(
        ["log", "record", str(out), "-i", "virtual", "-c", chan, "--count", str(len(msgs)), "--duration", "20"])))
    t.start()
    time.sleep(0.5)  # let the recorder's bus join the channel
    with can.Bus(interface="virtual", channel=chan) as tx:
        for m in msgs:
            tx.send(can.Message(arbitration_id=m.arbitration_id, data=m.data, is_extended_id=False))
    t.join(30)
    assert rc == [0]
    got = _read(out)
    assert [(m.arbitration_id, bytes(m.data)) for m in got] == [(m.arbitration_id, bytes(m.data)) for m in msgs]


def test_record_filters_ids(tmp_path):
    chan = "recf-%d" % id(tmp_path)
    out = tmp_path / "f.blf"
    with can.Bus(interface="virtual", channel=chan) as tx:
        bus = can.Bus(interface="virtual", channel=chan)
        for m in _frames():
            tx.send(m)
        n = canlog.record(bus, str(out), duration=0.5, ids=[0x109])
        bus.shutdown()
    assert n == 3 and {m.arbitration_id for m in _read(out)} == {0x109}


@pytest.mark.parametrize("fmt", FORMATS)
def test_replay_onto_a_virtual_bus(tmp_path, fmt):
    chan = "rep-%s-%d" % (fmt, id(tmp_path))
    p = tmp_path / ("r." + fmt)
    msgs = _frames()
    _write(p, msgs)
    with can.Bus(interface="virtual", channel=chan) as rx:
        assert cli.main(["log", "replay", str(p), "-i", "virtual", "-c", chan, "--ignore-timestamps"]) == 0
        got = []
        while True:
            m = rx.recv(timeout=0.2)
            if m is None:
                break
            got.append(m)
    assert [(m.arbitration_id, bytes(m.data)) for m in got] == [(m.arbitration_id, bytes(m.data)) for m in msgs]


def test_replay_keeps_recorded_timing(tmp_path):
    chan = "rept-%d" % id(tmp_path)
    p = tmp_path / "t.blf"
    msgs = [can.Message(timestamp=5.0 + i * 0.1, arbitration_id=0x500, data=bytes(8)) for i in range(4)]
    _write(p, msgs)
    with can.Bus(interface="virtual", channel=chan) as rx:
        bus = can.Bus(interface="virtual", channel=chan)
        t0 = time.monotonic()
        assert canlog.replay(bus, str(p), loops=2) == 8
        elapsed = time.monotonic() - t0
        bus.shutdown()
    assert 0.5 <= elapsed < 3.0  # 2 x 0.3 s of recorded spacing


def test_decode_prints_dbc_values(tmp_path, capsys):
    p = tmp_path / "d.blf"
    _write(p, _frames())
    assert cli.main(["log", "decode", str(p), "--json", "--filter", "ChargerDischargeStatus"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert lines[0]["signals"] == {"PresentDischargeCurrent": 0, "AvailableInputVoltage": 500,
                                   "AvailableInputCurrent": 15, "LowerThresholdVoltage": 250}
    assert cli.main(["log", "decode", str(p), "--id", "0x7E0"]) == 0
    out = capsys.readouterr().out
    assert "DiagRequest PciType=SingleFrame SfDataLength=3 SfData1=34" in out


def test_errors_are_reported(tmp_path):
    assert cli.main(["log", "convert", str(tmp_path / "missing.blf"), str(tmp_path / "x.asc")]) == 2
    _write(tmp_path / "ok.blf", _frames())
    assert cli.main(["log", "convert", str(tmp_path / "ok.blf"), str(tmp_path / "x.xyz")]) == 2
    assert cli.main(["log", "record", str(tmp_path / "x.xyz"), "-i", "virtual", "-c", "e"]) == 2
    assert cli.main(["log", "replay", str(tmp_path / "missing.blf"), "-i", "virtual", "-c", "e"]) == 2
    assert cli.main(["log", "decode", str(tmp_path / "ok.blf"), "--dbc", "nope"]) == 2


def test_host_decoder_matches_chademo_codec_on_logged_frames(tmp_path):
    """The same frames through the on-device codec and the host decoder."""
    from host_tools.decoder import HostDecoder
    dec = HostDecoder.from_dbcs(["chademo"])
    for m in _frames():
        if m.arbitration_id in chademo.MESSAGES:
            assert dec.decode(m.arbitration_id, bytes(m.data)) == chademo.decode(m.arbitration_id, m.data)
