"""SECC-side wire timing (host_tools/secc/wiretime.py): the pairing of requests and
responses on a synthetic capture with known timestamps (segmented messages,
retransmissions, pure ACKs, coalesced messages, unanswered requests), the
checksum completion of offloaded frames, and a live capture in a namespace pair
(root) against a toy SECC that answers after a known delay."""
import json
import os
import subprocess
import sys

from firmware.protocols.ccs.net import ipv6, tcp
from host_tools.secc import wiretime
from host_tools.secc.netns import NetnsPair
from host_tools.v2g import pcap

# EXI bodies recorded from a Josev EVCC <-> v2xbox secc DIN session (SECC-side capture)
SAP_REQ = bytes.fromhex("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040")
SAP_RES = bytes.fromhex("80400040")
CD_REQ = bytes.fromhex("809a021c8d7c64971c90a6d0d1400380c0c00404050320000c203e804080e1807c00018103200c0814010140c800")
CD_RES = bytes.fromhex("809a021c8d7c64971c90a6d0e00040800001028441381018050000040a1104e02030c002018387c2a800")
PD_RES = bytes.fromhex("809a021c8d7c64971c90a6d1400420400000")
PRE_REQ = bytes.fromhex("809a021c8d7c64971c90a6d1514002810140c80c0c0040")
PRE_RES = bytes.fromhex("809a021c8d7c64971c90a6d160004080000102800000")

EV_MAC = b"\x02\x00\x00\x00\x00\x02"
BOX_MAC = b"\x02\x00\x00\x00\x00\x01"
EV_IP = b"\xfe\x80" + bytes(13) + b"\x02"
BOX_IP = b"\xfe\x80" + bytes(13) + b"\x01"
T0 = 1764560000.0       # a wall-clock epoch like the kernel's


def v2gtp(body):
    return b"\x01\xfe\x80\x01" + len(body).to_bytes(4, "big") + body


class Conn:
    """Both directions of one TCP connection, as frames with capture times."""

    def __init__(self):
        self.frames = []
        self.seq = {"ev": 1000, "box": 5000}

    def seg(self, t, side, data=b"", flags=tcp.ACK, seq=None):
        src, dst, sm, dm, sp, dp = ((EV_IP, BOX_IP, EV_MAC, BOX_MAC, 40000, 50000) if side == "ev" else
                                    (BOX_IP, EV_IP, BOX_MAC, EV_MAC, 50000, 40000))
        other = "box" if side == "ev" else "ev"
        s = self.seq[side] if seq is None else seq
        p = tcp.build(src, dst, sp, dp, s, self.seq[other], flags, 65535, data)
        self.frames.append((T0 + t, bytes(ipv6.frame(dm, sm, src, dst, ipv6.NH_TCP, p))))
        if seq is None:
            self.seq[side] = (s + len(data) + (1 if flags & (tcp.SYN | tcp.FIN) else 0)) & tcp.MASK


def synthetic(tmp_path):
    c = Conn()
    c.seg(0.000, "ev", flags=tcp.SYN)
    c.seg(0.001, "box", flags=tcp.SYN | tcp.ACK)
    c.seg(0.002, "ev")
    c.seg(0.010, "ev", v2gtp(SAP_REQ))
    c.seg(0.011, "box", v2gtp(SAP_RES))
    # 1) a request in two segments, a pure ACK, the response in two segments, a retransmission
    m = v2gtp(CD_REQ)
    c.seg(1.000, "ev", m[:20])
    c.seg(1.002, "ev", m[20:])                     # the request is in: t = 1.002
    c.seg(1.0021, "box")                           # pure ACK, no data
    r = v2gtp(CD_RES)
    c.seg(1.0055, "box", r[:10])                   # the response begins leaving: 3.5 ms
    c.seg(1.0060, "box", r[10:])
    c.seg(1.0070, "ev", m[20:], seq=(c.seq["ev"] - len(m) + 20) & tcp.MASK)   # retransmitted tail
    # 2) another request / response pair in between is not a charge-loop message
    c.seg(1.500, "ev", v2gtp(PRE_REQ))
    c.seg(1.510, "box", v2gtp(PRE_RES))
    # 3) one segment each way: 1.0 ms
    c.seg(2.000, "ev", v2gtp(CD_REQ))
    c.seg(2.001, "box", v2gtp(CD_RES))
    # 4) a request never answered, then one answered after 1.2 ms
    c.seg(3.000, "ev", v2gtp(CD_REQ))
    c.seg(3.100, "ev", v2gtp(CD_REQ))
    c.seg(3.1012, "box", v2gtp(CD_RES))
    # 5) the response starts in a segment that also carries the end of another message
    c.seg(4.000, "ev", v2gtp(CD_REQ))
    pd, cd = v2gtp(PD_RES), v2gtp(CD_RES)
    c.seg(4.003, "box", pd + cd[:12])
    c.seg(4.004, "box", cd[12:])
    path = str(tmp_path / "synthetic.pcap")
    pcap.write_pcap(path, c.frames)
    return path


def test_pairs_request_last_segment_with_response_first_segment(tmp_path):
    pairs, unpaired = wiretime.response_times(synthetic(tmp_path))
    ms = [p["ms"] for p in pairs]
    assert len(ms) == 4, pairs
    for got, want in zip(ms, [3.5, 1.0, 1.2, 3.0]):
        assert abs(got - want) < 0.002, (ms, pairs)
    assert unpaired == 1                        # the request at 3.000 s
    assert all(p["req"] == "CurrentDemandReq" and p["res"] == "CurrentDemandRes" for p in pairs)
    assert all(p["conn"].startswith("[fe80::2]:40000 > [fe80::1]:50000") for p in pairs)


def test_other_requests_can_be_paired_and_summary(tmp_path):
    path = synthetic(tmp_path)
    pairs, unpaired = wiretime.response_times(path, ("PreChargeReq",))
    assert [round(p["ms"], 3) for p in pairs] == [10.0] and unpaired == 0
    s = wiretime.summary(*wiretime.response_times(path))
    assert s["n"] == 4 and s["unpaired"] == 1 and abs(s["max_ms"] - 3.5) < 0.002 and abs(s["min_ms"] - 1.0) < 0.002
    # the module's CLI prints the same summary
    out = subprocess.run([sys.executable, "-m", "host_tools.secc.wiretime", "times", path],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["n"] == 4


def test_a_bad_capture_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    r = subprocess.run([sys.executable, "-m", "host_tools.secc.wiretime", "times", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a pcap" in r.stderr


def test_offloaded_checksum_is_completed_like_the_device_would():
    p = tcp.build(EV_IP, BOX_IP, 40000, 50000, 1, 2, tcp.ACK, 1000, v2gtp(CD_REQ))
    good = bytes(ipv6.frame(BOX_MAC, EV_MAC, EV_IP, BOX_IP, ipv6.NH_TCP, p))
    partial = bytearray(good)
    partial[54 + 16:54 + 18] = b"\x12\x34"      # what the stack leaves under offload
    try:
        tcp.parse(EV_IP, BOX_IP, memoryview(bytes(partial))[54:])
        raise AssertionError("a wrong checksum must not parse")
    except ipv6.PacketError:
        pass
    assert wiretime.complete_checksum(bytes(partial)) == good
    arp = b"\xff" * 6 + EV_MAC + b"\x08\x06" + bytes(28)
    assert wiretime.complete_checksum(arp) == arp       # not IPv6: unchanged


TOY_SECC = r"""
import socket, struct, sys, time
delay = float(sys.argv[1]); res = bytes.fromhex(sys.argv[2])
ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::", 50123)); ls.listen(1)
print("ready", flush=True)
c, _ = ls.accept()
buf = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    buf += d
    while len(buf) >= 8 and len(buf) >= 8 + struct.unpack(">I", buf[4:8])[0]:
        n = 8 + struct.unpack(">I", buf[4:8])[0]
        buf = buf[n:]
        time.sleep(delay)
        c.sendall(b"\x01\xfe\x80\x01" + len(res).to_bytes(4, "big") + res)
"""

TOY_EV = r"""
import socket, sys
addr, n, req = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.create_connection((addr, 50123), timeout=10)
for _ in range(n):
    s.sendall(b"\x01\xfe\x80\x01" + len(req).to_bytes(4, "big") + req)
    got = b""
    while len(got) < 8 or len(got) < 8 + int.from_bytes(got[4:8], "big"):
        got += s.recv(4096)
s.close()
"""


def _ll(ns, ifn):
    out = subprocess.run(["ip", "-n", ns, "-6", "addr", "show", "dev", ifn], capture_output=True, text=True).stdout
    for w in out.split():
        if w.startswith("fe80::"):
            return w.split("/")[0]
    raise AssertionError("no link-local address on %s: %s" % (ifn, out))


def test_live_capture_in_a_namespace_sees_the_secc_delay(tmp_path):
    """As root (CI is): a real capture on the SECC-side veth end. The toy SECC answers
    every CurrentDemandReq after >= 30 ms (no appHandshake on this connection: the
    decoder falls back to DIN). Lower bounds only: no timed upper bound."""
    assert os.geteuid() == 0, "the namespace test needs root (CI runs as root)"
    path = str(tmp_path / "live.pcap")
    with NetnsPair("i11m%d" % (os.getpid() % 10000)) as ns:
        with wiretime.Capture(ns, ns.box_ns, ns.box_if, path):
            secc = ns.popen_box([sys.executable, "-c", TOY_SECC, "0.03", CD_RES.hex()],
                                stdout=subprocess.PIPE, text=True)
            assert secc.stdout.readline().strip() == "ready"
            addr = "%s%%%s" % (_ll(ns.box_ns, ns.box_if), ns.ev_if)
            ev = ns.popen_ev([sys.executable, "-c", TOY_EV, addr, "5", CD_REQ.hex()])
            assert ev.wait(30) == 0
            secc.wait(10)
    pairs, unpaired = wiretime.response_times(path)
    assert len(pairs) == 5 and unpaired == 0, (pairs, unpaired)
    assert all(p["ms"] >= 30.0 for p in pairs), pairs
    frames = pcap.read_capture(path)
    assert all(abs(t - frames[0][0]) < 60 for t, _ in frames)     # kernel wall-clock stamps


def test_capture_on_a_missing_interface_is_a_clear_error(tmp_path):
    out = tmp_path / "x.pcap"
    r = subprocess.run([sys.executable, "-m", "host_tools.secc.wiretime", "capture", "--iface", "i11mnope0",
                        "--out", str(out)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "cannot capture on i11mnope0" in r.stderr, r.stderr
