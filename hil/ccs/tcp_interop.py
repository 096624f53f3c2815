"""Kernel-peer rig for the box's own IPv6/TCP stack.

    ns ev:  ev0   Linux IPv6/TCP (the car's side: SDP client, TCP client)
              |   veth (tc netem may sit on either end)
    ns box: plc0  IPv6 disabled; the firmware's RawTransport over AF_PACKET

The box side runs in a thread (`BoxRunner`) on wall-clock milliseconds with a
tiny SECC stand-in app: it answers SDP requests (20-byte response: our
address, TCP port, 0x10 no TLS, 0x00 TCP) and answers every complete V2GTP
message with one whose payload is the request's payload reversed, same
payload type. SDP/V2GTP framing here is test scaffolding: the real modules
(sdp.py, v2gtp.py) belong to the SECC issue.
"""
import os
import select
import socket
import struct
import threading
import time

from firmware.protocols.ccs.net.raw_transport import SDP_PORT, RawTransport
from hil.ccs import netns
from hil.ccs.line import ImpairedBridge, Impairment  # noqa: F401  (Impairment re-exported)
from hil.ccs.rawlink import RawLink

BOX_MAC = bytes.fromhex("02b0c5000001")
EV_MAC = bytes.fromhex("02ee00000002")


def v2gtp(ptype, payload):
    return struct.pack(">BBHI", 0x01, 0xFE, ptype, len(payload)) + payload


def sdp_request(security=0x10, transport=0x00):
    return v2gtp(0x9000, bytes((security, transport)))


PT_FORGET_NEIGHBOURS = 0xA0F0   # manufacturer range: test controls for the stand-in app
PT_REPLY_AND_CLOSE = 0xA0F1
PT_BULK = 0xA0F2                # counted as it streams in, answered with the byte count


class EchoApp:
    """SECC stand-in: SDP answers + reversed-payload V2GTP replies."""

    def __init__(self, transport):
        self.t = transport
        self.buf = {}
        self.bulk_left = {}
        self.log = []          # events seen, for the tests
        self.requests = 0
        self.bad = 0
        self.bulk_bytes = 0

    def on_events(self, events):
        for e in events:
            self.log.append(e[:2] if e[0] == "data" else e)
            if e[0] == "sdp":
                p = e[2]
                if len(p) == 10 and p[0:2] == b"\x01\xfe" and p[2:4] == b"\x90\x00":
                    ip, port = self.t.local_endpoint()
                    self.t.send_sdp(e[1], v2gtp(0x9001, ip + struct.pack(">H", port) + b"\x10\x00"))
                else:
                    self.bad += 1
            elif e[0] == "connected":
                self.buf[e[1]] = bytearray()
                self.bulk_left[e[1]] = 0
            elif e[0] == "data":
                self._data(e[1], e[2])
            elif e[0] == "closed":
                self.buf.pop(e[1], None)

    def _data(self, cid, data):
        left = self.bulk_left.get(cid, 0)
        if left:
            k = min(left, len(data))
            self.bulk_bytes += k
            left -= k
            self.bulk_left[cid] = left
            data = data[k:]
            if left == 0:
                self.t.send(cid, v2gtp(PT_BULK, struct.pack(">I", self.bulk_bytes)))
        b = self.buf.setdefault(cid, bytearray())
        b.extend(data)
        while len(b) >= 8:
            if b[0:2] != b"\x01\xfe":
                self.bad += 1
                self.t.close(cid)
                b[:] = b""
                return
            ptype, n = struct.unpack(">HI", b[2:8])
            if ptype == PT_BULK:
                del b[:8]
                k = min(n, len(b))
                self.bulk_bytes += k
                del b[:k]
                self.bulk_left[cid] = n - k
                if n - k == 0:
                    self.t.send(cid, v2gtp(PT_BULK, struct.pack(">I", self.bulk_bytes)))
                continue
            if len(b) < 8 + n:
                return
            body = bytes(b[8:8 + n])
            del b[:8 + n]
            self.requests += 1
            if ptype == PT_FORGET_NEIGHBOURS:
                self.t.stack.nc.clear()
                self.t.stack._nc_order.clear()
            self.t.send(cid, v2gtp(ptype, body[::-1]))
            if ptype == PT_REPLY_AND_CLOSE:
                self.t.close(cid)


class BoxRunner:
    """The firmware transport + app on an AF_PACKET link, in a thread."""

    def __init__(self, ns, ifname, tcp_port=None, recorder=None, app_factory=EchoApp):
        self.link = RawLink(ns, ifname, recorder=recorder)
        self.transport = RawTransport(self.link, self.link.mac, os.urandom, tcp_port=tcp_port)
        self.app = app_factory(self.transport)
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="box", daemon=True)

    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def start(self):
        self.transport.open(self.now_ms())
        self.thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set():
                now = self.now_ms()
                self.app.on_events(self.transport.poll(now))
                nt = self.transport.next_timer()       # ms until, from the `now` of the poll
                wait = 0.02 if nt is None else max(0.0, min(0.02, (nt - (self.now_ms() - now)) / 1000.0))
                select.select([self.link], [], [], wait)
        except Exception as e:  # surfaced by stop(): a crash in the stack must fail the test
            self.error = e

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)
        self.link.close()
        if self.error is not None:
            raise self.error


class KernelPeer:
    """Sockets on the kernel side (the car's OS stack), created in ns ev."""

    def __init__(self, ns, ifname):
        self.ns = ns
        self.ifname = ifname
        self.ifindex = int(netns.sh("cat", "/sys/class/net/%s/ifindex" % ifname, ns=ns).stdout.strip())

    def sdp(self, timeout=5.0, tries=20):
        s = netns.socket_in(self.ns, socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            s.settimeout(timeout / tries)
            for _ in range(tries):      # EVCC retries SDP every 0.25 s (Josev timeouts.py)
                s.sendto(sdp_request(), ("ff02::1", SDP_PORT, 0, self.ifindex))
                try:
                    data, addr = s.recvfrom(2048)
                except socket.timeout:
                    continue
                return data, addr
            raise TimeoutError("no SDP response")
        finally:
            s.close()

    def ping(self, ip16, size=56, count=3, timeout=2.0):
        """ICMPv6 echo from the kernel side (raw ICMPv6 socket: the kernel
        fills in the checksum). Returns the number of matching replies."""
        s = netns.socket_in(self.ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.settimeout(timeout)
        dst = (socket.inet_ntop(socket.AF_INET6, ip16), 0, 0, self.ifindex)
        got = 0
        try:
            for seq in range(count):
                body = bytes((seq + k) & 0xFF for k in range(size))
                s.sendto(struct.pack(">BBHHH", 128, 0, 0, 0x5632, seq) + body, dst)
                end = time.monotonic() + timeout
                while time.monotonic() < end:
                    try:
                        data, _addr = s.recvfrom(4096)
                    except socket.timeout:
                        break
                    if data[0] == 129 and data[4:8] == struct.pack(">HH", 0x5632, seq) and data[8:] == body:
                        got += 1
                        break
        finally:
            s.close()
        return got

    def connect(self, ip16, port, timeout=10.0):
        s = netns.socket_in(self.ns, socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((socket.inet_ntop(socket.AF_INET6, ip16), port, 0, self.ifindex))
        return s


def recv_v2gtp(s):
    hdr = recv_exact(s, 8)
    ptype, n = struct.unpack(">HI", hdr[2:8])
    return hdr, ptype, recv_exact(s, n)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        x = s.recv(n - len(b))
        if not x:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(b), n))
        b += x
    return b


def make_topology(topo, car_to_box=None, box_to_car=None, seed=1, recorder=None, direct=False):
    """ns ev (kernel, ev0) -- veth -- ns line (ImpairedBridge evl0<->boxl0) -- veth -- ns box (plc0).
    Returns (ns_ev, ns_box, bridge); the bridge is running, stop it after use.
    direct=True: one veth ev0 <-> plc0, no bridge (bridge is None), for throughput figures."""
    if direct:
        ns_ev, ns_box = topo.netns("ev"), topo.netns("box")
        topo.veth(ns_ev, "ev0", ns_box, "plc0", mac_a=EV_MAC, mac_b=BOX_MAC, ipv6_a=True)
        netns.sh("sysctl", "-q", "-w", "net.ipv6.conf.ev0.accept_dad=0", ns=ns_ev)
        wait_link_local(ns_ev, "ev0")
        return ns_ev, ns_box, None
    ns_ev, ns_line, ns_box = topo.netns("ev"), topo.netns("ln"), topo.netns("box")
    topo.veth(ns_ev, "ev0", ns_line, "evl0", mac_a=EV_MAC, ipv6_a=True)
    topo.veth(ns_box, "plc0", ns_line, "boxl0", mac_a=BOX_MAC)
    for ifn in ("evl0", "boxl0"):
        netns.sh("ip", "link", "set", ifn, "promisc", "on", ns=ns_line)
    netns.sh("sysctl", "-q", "-w", "net.ipv6.conf.ev0.keep_addr_on_down=1", ns=ns_ev)
    netns.sh("sysctl", "-q", "-w", "net.ipv6.conf.ev0.accept_dad=0", ns=ns_ev)
    bridge = ImpairedBridge(ns_line, "evl0", "boxl0", a_to_b=car_to_box, b_to_a=box_to_car, seed=seed,
                            recorder=recorder).start()
    wait_link_local(ns_ev, "ev0")
    return ns_ev, ns_box, bridge


def wait_link_local(ns, ifname, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = netns.sh("ip", "-6", "addr", "show", "dev", ifname, ns=ns).stdout
        if "fe80::" in out and "tentative" not in out:
            return
        time.sleep(0.05)
    raise netns.NetnsError("no usable link-local address on %s" % ifname)
