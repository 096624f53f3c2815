"""`v2xbox v2g decode` on captures the interop rigs make (SLAC against the
reference PEV; SDP/TCP/V2GTP/EXI against the kernel peer), in pcap and
pcapng, plus bad and truncated captures."""
import io
import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.cli import build_parser
from host_tools.exi import jsonform
from host_tools.v2g import decode as dec
from host_tools.v2g import pcap
from hil.ccs import netns
from hil.ccs import slac_interop as si
from hil.ccs import tcp_interop as ti

SAP_REQ = {"supportedAppProtocolReq": {"AppProtocol": [
    {"ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef", "VersionNumberMajor": 2, "VersionNumberMinor": 0,
     "SchemaID": 2, "Priority": 2},
    {"ProtocolNamespace": "urn:din:70121:2012:MsgDef", "VersionNumberMajor": 2, "VersionNumberMinor": 0,
     "SchemaID": 1, "Priority": 1}]}}
SAP_RES = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}
DIN_SESSION_SETUP_REQ = bytes.fromhex("809a02000000000000000011d01a121dc983cd6000")  # libcbv2g vector
DIN_SESSION_SETUP_RES = {"V2G_Message": {"Header": {"SessionID": "0102030405060708"}, "Body": {
    "SessionSetupRes": {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": "00", "DateTimeNow": 1700000000}}}}


class CannedSecc(ti.EchoApp):
    """Answers the appHandshake (DIN) and SessionSetup with real EXI."""

    def _data(self, cid, data):
        b = self.buf.setdefault(cid, bytearray())
        b.extend(data)
        while len(b) >= 8:
            _pt, n = struct.unpack(">HI", bytes(b[2:8]))
            if len(b) < 8 + n:
                return
            body = bytes(b[8:8 + n])
            del b[:8 + n]
            if body == DIN_SESSION_SETUP_REQ:
                self.t.send(cid, ti.v2gtp(0x8001, jsonform.encode(DIN_SESSION_SETUP_RES, "din")))
            else:
                self.t.send(cid, ti.v2gtp(0x8001, jsonform.encode(SAP_RES, "app")))


def _cli(path, *extra):
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["v2g", "decode", str(path)] + list(extra))
    rc = args.func(args, stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def _json_events(path):
    rc, out, err = _cli(path, "--json")
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_decode_slac_capture_from_the_pev_run(tmp_path):
    r = si.run_pev_match()
    assert r.pev_rc == 0
    path = tmp_path / "slac.pcap"
    pcap.write_pcap(path, r.frames)
    ev = _json_events(path)
    msgs = [e["msg"] for e in ev if e["layer"] == "slac"]
    for m in ("CM_SET_KEY.REQ", "CM_SET_KEY.CNF", "CM_SLAC_PARM.REQ", "CM_SLAC_PARM.CNF",
              "CM_START_ATTEN_CHAR.IND", "CM_MNBC_SOUND.IND", "CM_ATTEN_CHAR.IND", "CM_ATTEN_CHAR.RSP",
              "CM_SLAC_MATCH.REQ", "CM_SLAC_MATCH.CNF"):
        assert m in msgs, m
    assert msgs.index("CM_SLAC_PARM.REQ") < msgs.index("CM_ATTEN_CHAR.IND") < msgs.index("CM_SLAC_MATCH.CNF")
    cnf = [e for e in ev if e.get("msg") == "CM_SLAC_MATCH.CNF"][0]
    assert cnf["nmk"] == r.core.nmk.hex() and cnf["nid"] == r.core.nid.hex()
    assert msgs.count("CM_MNBC_SOUND.IND") == 10
    assert all(e["t"] >= 0 for e in ev) and ev[0]["t"] == 0
    rc, text, _ = _cli(path)
    assert rc == 0 and "CM_SLAC_MATCH.CNF" in text and "SLAC" in text


def _tcp_capture():
    frames = []
    with netns.topology() as topo:
        ns_ev, ns_box, bridge = ti.make_topology(topo)
        box = ti.BoxRunner(ns_box, "plc0", recorder=lambda t, f: frames.append((t, f)),
                           app_factory=CannedSecc).start()
        try:
            peer = ti.KernelPeer(ns_ev, "ev0")
            data, _addr = peer.sdp()
            s = peer.connect(data[8:24], struct.unpack(">H", data[24:26])[0])
            s.sendall(ti.v2gtp(0x8001, jsonform.encode(SAP_REQ, "app")))
            ti.recv_v2gtp(s)
            s.sendall(ti.v2gtp(0x8001, DIN_SESSION_SETUP_REQ))
            ti.recv_v2gtp(s)
            s.close()
            end = box.now_ms() + 1500
            while box.now_ms() < end and not any(e[0] == "closed" for e in box.app.log):
                pass
        finally:
            box.stop()
            bridge.stop()
    return frames


def test_decode_sdp_tcp_v2gtp_exi_capture(tmp_path):
    frames = _tcp_capture()
    path = tmp_path / "v2g.pcap"
    pcap.write_pcap(path, frames)
    ev = _json_events(path)
    sdp = [e for e in ev if e["layer"] == "sdp"]
    assert sdp[0]["msg"] == "SDP request" and sdp[0]["security"] == "none" and sdp[0]["transport"] == "TCP"
    assert sdp[1]["msg"] == "SDP response" and sdp[1]["secc_port"] > 0
    tcp_events = [e["event"] for e in ev if e["layer"] == "tcp"]
    assert tcp_events[:2] == ["SYN", "SYN-ACK"] and tcp_events.count("FIN") == 2
    v2 = [e for e in ev if e["layer"] == "v2gtp"]
    names = [dec._exi_name(e["exi"]) for e in v2]
    assert names == ["supportedAppProtocolReq", "supportedAppProtocolRes", "SessionSetupReq", "SessionSetupRes"]
    assert v2[1]["session_schema"] == "din" and v2[2]["schema"] == "din"
    assert v2[2]["exi"]["V2G_Message"]["Body"]["SessionSetupReq"]["EVCCID"] == "84877260F358"
    assert all(e["payload_type"] == "0x8001" for e in v2)
    assert [e for e in ev if e["layer"] == "icmpv6"]     # neighbour discovery is in the timeline
    # the same capture as pcapng decodes the same
    ng = tmp_path / "v2g.pcapng"
    _write_pcapng(ng, frames)
    ev_ng = _json_events(ng)
    assert len(ev_ng) == len(ev)
    for a, b in zip(ev_ng, ev):
        assert abs(a.pop("t") - b.pop("t")) < 5e-6
        assert abs(a.pop("t_first", 0) - b.pop("t_first", 0)) < 5e-6 and a == b   # times: rounding only


def _write_pcapng(path, frames):
    def block(btype, body):
        body += b"\x00" * ((4 - len(body) % 4) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 262144) + struct.pack("<HHB3x", 9, 1, 6) + b"\x00\x00\x00\x00")
    for t, f in frames:
        us = int(round(t * 1e6))
        out += block(6, struct.pack("<IIIII", 0, us >> 32, us & 0xFFFFFFFF, len(f), len(f)) + bytes(f))
    path.write_bytes(out)


def test_bad_and_truncated_captures(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not a capture\n")
    rc, out, err = _cli(bad)
    assert rc == 2 and "not a pcap or pcapng file" in err and out == ""
    missing = tmp_path / "nope.pcap"
    rc, _out, err = _cli(missing)
    assert rc == 2 and "cannot read" in err
    frames = [(1.0, b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + bytes(46)),         # IPv4: unknown here
              (1.5, b"\x02" * 6 + b"\x02" * 6 + b"\x88\xe1" + b"\x01\x64\x60")]   # truncated MME
    good = tmp_path / "odd.pcap"
    pcap.write_pcap(good, frames)
    ev = _json_events(good)
    assert ev[0]["layer"] == "unknown" and ev[0]["ethertype"] == "0x0800"
    assert ev[1]["layer"] == "slac" and "error" in ev[1]
    trunc = tmp_path / "cut.pcap"
    trunc.write_bytes(good.read_bytes()[:-10])
    rc, out, err = _cli(trunc, "--json")
    assert rc == 2 and "packet 2 truncated" in err and len(out.splitlines()) == 1
    empty = tmp_path / "empty.pcap"
    pcap.write_pcap(empty, [])
    rc, _out, err = _cli(empty)
    assert rc == 2 and "no packets" in err


@given(st.lists(st.binary(max_size=120), max_size=12))
@settings(max_examples=150)
def test_decoder_never_raises_on_garbage(frames):
    d = dec.Decoder()
    for i, f in enumerate(frames):
        d.feed(float(i), b"\x02" * 12 + b"\x86\xdd" + f)
        d.feed(float(i), b"\x02" * 12 + b"\x88\xe1" + f)
        d.feed(float(i), f)
    for e in d.events:
        json.dumps(e, default=str)
        dec.summary(e)
