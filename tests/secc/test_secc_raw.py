"""`v2xbox secc --transport raw` edges (host_tools/secc/raw.py): the AF_PACKET frame link, the
kernel's IPv6 switched off (and back on) on the interface, clear exits when the link cannot be
used, and the checksum a veth peer leaves unfinished (root: namespaces the tests create)."""
import os
import select
import socket
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.protocols.ccs.net import ipv6
from firmware.protocols.ccs.net.stack import Stack
from hil.ccs import netns as hn
from hil.ccs.rawlink import RawLink
from host_tools.secc import raw
from host_tools.secc.netns import NetnsPair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECC = [sys.executable, "-m", "host_tools.cli", "secc"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# nobody must still read the checkout and its .venv, which may sit in a 0700 directory (mktemp -d,
# CI's clone): CAP_DAC_READ_SEARCH gives read/search only, never a write to /proc/sys.
READ = "dac_read_search"


def _pair(tag):
    return NetnsPair("v2xr%s%d" % (tag, os.getpid() % 10000))


def _disable_ipv6(ns, ifn):
    return hn.sh("cat", "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % ifn, ns=ns).stdout.strip()


def _secc(ns, args, pre=(), timeout=30):
    return subprocess.run(["ip", "netns", "exec", ns] + list(pre) + SECC + list(args), capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


def test_no_such_interface_exits_2_without_traceback():
    r = subprocess.run(SECC + ["--iface", "v2xr-none0", "--transport", "raw"], capture_output=True, text=True,
                       cwd=ROOT, timeout=30)
    assert r.returncode == 2
    assert "no interface 'v2xr-none0'" in r.stderr and "Traceback" not in r.stderr


def test_unwritable_pcap_exits_2_before_opening_anything(tmp_path):
    r = subprocess.run(SECC + ["--iface", "lo", "--transport", "raw", "--pcap", str(tmp_path / "no" / "x.pcap")],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 2
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_bad_interface_name_is_refused_before_any_path_is_built():
    for bad in ("../all", "a/b", "x" * 16, ""):
        try:
            raw.KernelIPv6(bad)
        except raw.LinkError as e:
            assert "not a valid interface name" in str(e)
        else:
            raise AssertionError("accepted %r" % bad)


def test_not_root_exits_2_with_a_clear_message():
    with _pair("u") as ns:
        r = _secc(ns.box_ns, ["--iface", ns.box_if, "--transport", "raw", "--timeout", "1"],
                  pre=NOBODY + ["--inh-caps=-all,+" + READ, "--ambient-caps=+" + READ])
        assert r.returncode == 2, r.stderr
        assert "needs root or CAP_NET_RAW" in r.stderr and "Traceback" not in r.stderr
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "0"


def test_kernel_ipv6_on_and_not_permitted_to_switch_it_off_exits_2():
    """CAP_NET_RAW (the frame link opens) but not root: /proc/sys stays read-only, so the box
    refuses to fight the kernel's IPv6 for the interface's address."""
    with _pair("c") as ns:
        r = _secc(ns.box_ns, ["--iface", ns.box_if, "--transport", "raw", "--timeout", "1"],
                  pre=NOBODY + ["--inh-caps=+net_raw,+" + READ, "--ambient-caps=+net_raw,+" + READ])
        assert r.returncode == 2, r.stderr
        assert "the kernel's IPv6 is on for box0" in r.stderr and "disable_ipv6=1" in r.stderr
        assert "Traceback" not in r.stderr
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "0"


def test_kernel_ipv6_is_switched_off_while_running_and_back_on_at_exit():
    with _pair("k") as ns:
        p = ns.popen_box(SECC + ["--iface", ns.box_if, "--transport", "raw", "--timeout", "3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        first = p.stderr.readline()
        listening = p.stderr.readline()
        assert "switched the kernel's IPv6 off on box0" in first, first
        assert '"listening": "box0"' in listening, listening
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "1"
        out, err = p.communicate(timeout=30)
        assert p.returncode == 1 and "timeout" in err          # no car came: --timeout
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "0"
        # idle, the loop woke at most every 50 ms (the simulated power stage's step), not in a spin
        import json
        stats = json.loads(err.strip().splitlines()[-1])
        assert stats["stopped"] == "box0" and stats["run_s"] >= 3
        assert stats["loop_iterations"] <= 30 * stats["run_s"], stats


def test_ctrl_c_stops_cleanly_and_restores_the_kernel_ipv6():
    import signal
    with _pair("i") as ns:
        p = ns.popen_box(SECC + ["--iface", ns.box_if, "--transport", "raw", "--timeout", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        p.stderr.readline()
        assert "listening" in p.stderr.readline()
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "1"
        os.kill(p.pid, signal.SIGINT)          # `ip netns exec` execs the CLI: same process
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and "Traceback" not in err, err
        assert '"stopped": "box0"' in err
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "0"


def test_kernel_ipv6_already_off_is_left_off():
    with _pair("o") as ns:
        hn.sh("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % ns.box_if, ns=ns.box_ns)
        r = _secc(ns.box_ns, ["--iface", ns.box_if, "--transport", "raw", "--timeout", "1"])
        assert r.returncode == 1, r.stderr
        assert "switched" not in r.stderr and '"listening": "box0"' in r.stderr
        assert _disable_ipv6(ns.box_ns, ns.box_if) == "1"


def test_garbage_from_the_car_closes_its_connection_and_the_secc_runs_on():
    """The car's kernel connects to the port the box's stack listens on (no RST from the box's
    kernel: its IPv6 is off) and sends something that is not V2GTP: the SECC closes that
    connection, records it, and keeps serving (a second connection is accepted)."""
    import json
    with _pair("g") as ns:
        p = ns.popen_box(SECC + ["--iface", ns.box_if, "--transport", "raw", "--timeout", "20", "--sessions", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        p.stderr.readline()
        port = json.loads(p.stderr.readline())["tcp_port"]
        mac = hn.sh("cat", "/sys/class/net/%s/address" % ns.box_if, ns=ns.box_ns).stdout.strip()
        ll = socket.inet_ntop(socket.AF_INET6, ipv6.link_local_from_mac(hn.mac_bytes(mac)))
        ifindex = int(hn.sh("cat", "/sys/class/net/%s/ifindex" % ns.ev_if, ns=ns.ev_ns).stdout)
        for _ in range(2):
            c = hn.socket_in(ns.ev_ns, socket.AF_INET6, socket.SOCK_STREAM)
            c.settimeout(10)
            c.connect((ll, port, 0, ifindex))
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert c.recv(100) == b""           # closed by the SECC, nothing sent back
            c.close()
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        recs = [json.loads(x) for x in out.splitlines()]
        assert len(recs) == 2 and all(r["protocol"] is None and r["requests"] == [] for r in recs), recs
        assert "Traceback" not in err


def test_a_tls_handshake_that_fails_is_refused_and_logged_and_the_secc_runs_on(tmp_path):
    """--tls on the raw transport: a ClientHello that never completes (5 s handshake deadline) and
    one that is malformed each end their connection with a {"tls_refused": ...} line; a plain
    connection is still served after them."""
    import json
    from host_tools.secc import pki
    pki.make_pki(str(tmp_path / "secc"), "iso20")
    with _pair("t") as ns:
        p = ns.popen_box(SECC + ["--iface", ns.box_if, "--transport", "raw", "--protocols", "din,iso20dc", "--tls",
                                 "--cert-dir", str(tmp_path / "secc"), "--timeout", "20", "--sessions", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        p.stderr.readline()
        ports = json.loads(p.stderr.readline())
        assert ports["tls_port"] and ports["tls_port"] != ports["tcp_port"], ports
        mac = hn.sh("cat", "/sys/class/net/%s/address" % ns.box_if, ns=ns.box_ns).stdout.strip()
        ll = socket.inet_ntop(socket.AF_INET6, ipv6.link_local_from_mac(hn.mac_bytes(mac)))
        ifindex = int(hn.sh("cat", "/sys/class/net/%s/ifindex" % ns.ev_if, ns=ns.ev_ns).stdout)
        sends = [(ports["tls_port"], b"\x16\x03\x01\x00\x40\x01", "handshake timeout"),  # stalls
                 (ports["tls_port"], b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", ""),  # 1-byte ClientHello
                 (ports["tcp_port"], b"GET / HTTP/1.0\r\n\r\n", None)]                     # plain, not V2GTP
        for port, data, why in sends:
            c = hn.socket_in(ns.ev_ns, socket.AF_INET6, socket.SOCK_STREAM)
            c.settimeout(15)
            c.connect((ll, port, 0, ifindex))
            c.sendall(data)
            try:
                while c.recv(4096):        # a TLS alert may come first; then the close
                    pass
            except ConnectionResetError:
                pass
            c.close()
            if why is not None:
                line = json.loads(p.stderr.readline())
                assert "TLS handshake with fe80::" in line["tls_refused"] and why in line["tls_refused"], line
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        recs = [json.loads(x) for x in out.splitlines()]
        assert len(recs) == 1 and recs[0]["tls"] is False        # the plain one; the TLS one never reached the SECC
        assert "Traceback" not in err


def _udp_frame(payload):
    src_mac, dst_mac = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    src, dst = ipv6.link_local_from_mac(src_mac), ipv6.link_local_from_mac(dst_mac)
    u = bytearray(8 + len(payload))
    u[0:2] = (40000).to_bytes(2, "big")
    u[2:4] = (15118).to_bytes(2, "big")
    u[4:6] = len(u).to_bytes(2, "big")
    u[8:] = payload
    ipv6.with_checksum(src, dst, ipv6.NH_UDP, u, 6)
    return bytes(ipv6.frame(dst_mac, src_mac, src, dst, ipv6.NH_UDP, u)), dst_mac


def test_finish_checksum_fills_in_what_offload_left_out():
    good, dst_mac = _udp_frame(b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10\x00")
    partial = bytearray(good)
    partial[54 + 6:54 + 8] = b"\x12\x34"          # what a CHECKSUM_PARTIAL sender leaves there
    st_ = Stack(dst_mac, os.urandom)
    st_.bind_udp(15118)
    st_.receive(bytes(partial), 0)
    assert st_.events() == [] and st_.counters["checksum"] == 1     # the stack drops it as it is
    fixed = raw.finish_checksum(bytes(partial))
    assert fixed == good
    st_.receive(fixed, 1)
    assert [e[0] for e in st_.events()] == ["udp"]
    # not IPv6, truncated, unknown next header: left as they are
    for f in (b"\x00" * 60, good[:50], good[:20] + b"\x3b" + good[21:]):
        assert raw.finish_checksum(f) == f


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_finish_checksum_never_raises_on_any_frame(data):
    f = bytes(12) + b"\x86\xdd" + data
    out = raw.finish_checksum(f)
    assert len(out) == len(f)


def test_frames_from_a_kernel_peer_on_a_veth_arrive_with_finished_checksums():
    """The EV end of the veth keeps its default checksum offload: the kernel's UDP and TCP
    reach the AF_PACKET socket marked TP_STATUS_CSUMNOTREADY; PacketLink finishes them."""
    with _pair("s") as ns:
        link = RawLink(ns.box_ns, ns.box_if)
        try:
            ifindex = int(hn.sh("cat", "/sys/class/net/%s/ifindex" % ns.ev_if, ns=ns.ev_ns).stdout)
            s = hn.socket_in(ns.ev_ns, socket.AF_INET6, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            s.sendto(b"\x01\xfe\x90\x00\x00\x00\x00\x02\x10\x00", ("ff02::1", 15118, 0, ifindex))
            s.close()
            udp = None
            end = time.monotonic() + 5
            while udp is None and time.monotonic() < end:
                select.select([link], [], [], 0.2)
                while True:
                    f = link.recv()
                    if f is None:
                        break
                    if f[12:14] == b"\x86\xdd" and f[20] == ipv6.NH_UDP:
                        udp = f
            assert udp is not None
            assert link.checksums_finished >= 1
            assert ipv6.checksum(udp[22:38], udp[38:54], ipv6.NH_UDP, udp[54:]) == 0
        finally:
            link.close()
