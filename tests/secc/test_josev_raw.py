"""Interop with a real peer on the box's own network stack: Josev's EVCC (PyPI iso15118) on the
Linux IPv6/TCP stack in one network namespace, `v2xbox secc --transport raw` (the firmware SECC
on the firmware's own IPv6/ND/UDP/TCP stack over an AF_PACKET socket) in the other, one veth
between them that the harness creates and removes (root only: CI runs `make test` as root).
The harness is the kernel-transport one (host_tools/secc/josev.py), run with transport="raw".

The box end of the veth starts with the kernel's IPv6 on (host_tools/secc/netns.NetnsPair gives
both ends a link-local address): the CLI must switch it off, or the kernel answers the car's
neighbour solicitations for the same address and resets the car's SYN.
"""
import json

import pytest

from host_tools.cli import build_parser
from host_tools.secc import josev
from tests.secc.test_josev_interop import DIN_ORDER, ISO2_ORDER, ISO20_ORDER

CASES = {
    # proto: (ordered requests, Josev energy services, Josev's log of a normal end)
    "din": (DIN_ORDER, None, ("Communication session stopped successfully",)),
    "iso2": (ISO2_ORDER, None, ("SessionStopRes received", "Reason: Communication session terminated")),
    "iso20dc": (ISO20_ORDER, ["DC_BPT"], ("SessionStopRes received", "Reason: Communication session terminated")),
}


def _check(rec, log, proto):
    order, _svc, ends = CASES[proto]
    assert rec["transport"] == "raw" and rec["kernel_ipv6"] == "switched off", rec
    assert rec["protocol"] == proto and rec["tls"] is False
    assert [n for n, _c in rec["requests"]] == order, rec
    loop = "DC_ChargeLoopReq" if proto == "iso20dc" else "CurrentDemandReq"
    counts = dict((n, c) for n, c in rec["requests"] if n != "PowerDeliveryReq")
    assert counts[loop] >= 10 and rec["current_demand_loops"] >= 10, rec
    # PowerDelivery twice: start before the loop, stop after it; then welding, then SessionStop
    names = [n for n, _c in rec["requests"]]
    assert names.count("PowerDeliveryReq") == 2 and names[-1] == "SessionStopReq"
    assert names.index(loop) < len(names) - 1 - names[::-1].index("PowerDeliveryReq")
    assert rec["ended"] == "session stop", rec
    for text in ends:
        assert text in log, log[-3000:]
    assert "FAILED" not in log
    assert rec["energy_wh"] > 0
    assert rec["currentdemand_response_ms_p50"] is not None and rec["currentdemand_response_ms_p99"] is not None
    # the box's stack carried it all: nothing dropped as corrupt (the veth's offloaded checksums are
    # finished at the edge), no reset from the car, no connection timed out
    net = rec["net"]
    assert net["tcp_in"] > 20 and net["tcp_out"] > 20, net
    assert not any(net.get(k) for k in ("checksum", "tcp_rst_in", "tcp_timeouts", "tcp_no_conn")), net


@pytest.mark.parametrize("proto", ["iso2", "iso20dc"])
def test_josev_evcc_completes_a_session_on_the_raw_stack(tmp_path, proto):
    """ISO 15118-2 DC and ISO 15118-20 DC_BPT (plain TCP: Josev's -20 EVCC allows it with useTls
    false; the raw transport has no TLS) against the SECC on the box's own stack."""
    rec, log = josev.run_session(proto, str(tmp_path), loops=12, services=CASES[proto][1],
                                 secc_args=("--soc-floor", "0"), transport="raw")
    _check(rec, log, proto)
    if proto == "iso20dc":
        assert "DC_BPT" in log


def test_josev_evcc_completes_an_iso15118_20_dc_bpt_session_over_tls13_on_the_raw_stack(tmp_path):
    """-20 DC_BPT over TLS 1.3 ([V2G20-2356]) with the box's own TCP: Python's ssl over memory
    BIOs on the stack's stream (host_tools/secc/raw.RawTlsTransport), the test PKI of
    tests/secc/test_tls.py (secp521r1 V2G root), Josev with ENABLE_TLS_1_3, useTls and enforceTls."""
    from host_tools.secc import pki
    pki.make_pki(str(tmp_path / "secc"), "iso20")
    rec, log = josev.run_session("iso20dc", str(tmp_path), loops=12, services=["DC_BPT"], secc_args=("--soc-floor", "0"),
                                 tls_cert_dir=str(tmp_path / "secc"), transport="raw")
    assert rec["tls"] is True and rec["tls_version"] == "TLSv1.3", rec
    assert "Security: TLS" in log and "Starting TLS client" in log, log[:3000]
    rec = dict(rec, tls=False)       # the rest as on plain TCP
    _check(rec, log, "iso20dc")


def _decode(path):
    from io import StringIO
    out, err = StringIO(), StringIO()
    args = build_parser().parse_args(["v2g", "decode", str(path), "--json"])
    assert args.func(args, stdout=out, stderr=err) == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_josev_evcc_completes_a_din_session_on_the_raw_stack_and_the_pcap_decodes(tmp_path):
    """DIN SPEC 70121 DC on the raw stack, every frame captured by the SECC (--pcap); `v2xbox v2g
    decode` reads the capture back: ND, SDP, the TCP handshake, V2GTP with the whole DIN
    conversation in EXI, in the order the SECC answered it."""
    cap = tmp_path / "din-raw.pcap"
    rec, log = josev.run_session("din", str(tmp_path), loops=12, secc_args=("--soc-floor", "0"),
                                 transport="raw", pcap=str(cap))
    _check(rec, log, "din")
    ev = _decode(cap)
    layers = set(e["layer"] for e in ev)
    assert {"icmpv6", "sdp", "tcp", "v2gtp"} <= layers, layers
    sdp = [e for e in ev if e["layer"] == "sdp"]
    assert [e["msg"] for e in sdp[:2]] == ["SDP request", "SDP response"], sdp
    assert sdp[1]["transport"] == "TCP" and sdp[1]["security"] == "none"
    syn = [e for e in ev if e["layer"] == "tcp" and e.get("event") in ("SYN", "SYN-ACK")]
    assert [e["event"] for e in syn] == ["SYN", "SYN-ACK"]
    assert str(sdp[1]["secc_port"]) in syn[1]["conn"].split(" > ")[0]
    # the EXI bodies, in order, collapsed into runs: the SECC's own request list, each answered
    reqs, ress = [], []
    for e in ev:
        if e["layer"] != "v2gtp" or e.get("schema") != "din":
            continue
        body = list(e["exi"]["V2G_Message"]["Body"])[0]
        (reqs if body.endswith("Req") else ress).append(body)
    runs = []
    for n in reqs:
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    assert runs == [list(x) for x in rec["requests"]], (runs, rec["requests"])
    assert [r[:-3] for r in ress] == [q[:-3] for q in reqs]
    assert all(e["t"] >= 0 for e in ev)
    # a clean end on the wire: the box's FIN after SessionStopRes, acknowledged by the car's kernel,
    # and no reset either way
    box_mac = None
    fin_ack = None
    acked = False
    from host_tools.v2g import pcap
    for _t, f in pcap.read_capture(str(cap)):
        if f[12:14] != b"\x86\xdd" or f[20] != 6:
            continue
        seg = f[54:]
        flags = seg[13]
        assert not flags & 0x04, "RST on the V2G connection"
        if flags & 0x12 == 0x12:                    # SYN-ACK: from the box
            box_mac = f[6:12]
        elif f[6:12] == box_mac and flags & 0x01:
            fin_ack = (int.from_bytes(seg[4:8], "big") + 1) & 0xFFFFFFFF
        elif fin_ack is not None and f[6:12] != box_mac and flags & 0x10:
            acked = acked or int.from_bytes(seg[8:12], "big") == fin_ack
    assert fin_ack is not None and acked
