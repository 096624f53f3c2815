"""Host edge for `v2xbox secc --transport raw`: the firmware's own IPv6/ND/UDP/TCP stack
(firmware/protocols/ccs/net/raw_transport.RawTransport) on an AF_PACKET socket bound to
one interface of the current network namespace.

    PacketLink(iface)        the firmware's FrameLink contract (firmware/hal/interface.py)
                             over AF_PACKET: non-blocking send/recv of whole Ethernet frames;
                             the HIL rigs' hil/ccs/rawlink.RawLink is this class opened inside
                             a namespace
    RawHostTransport(iface)  RawTransport + PacketLink + what the CLI loop needs: wait() on
                             the socket fd until the stack's next timer, busy(), shutdown()
    KernelIPv6(iface)        the kernel's IPv6 on the interface, switched off while it runs
    RawTlsTransport(inner, ctx)  --tls on it: a second listener, Python's ssl over memory BIOs

Why the kernel's IPv6 must be off on the interface: the box's stack uses the interface's MAC,
so it owns the same EUI-64 link-local address as the kernel would; with both, the kernel
answers the car's neighbour solicitations too and resets every SYN to a port it does not
know (the box's listener). `KernelIPv6` switches it off when permitted (root /
CAP_NET_ADMIN) and back on afterwards; otherwise the CLI refuses.

Needs root or CAP_NET_RAW (AF_PACKET). Errors opening the link raise LinkError with a
message for the user.
"""
import os
import select
import socket
import ssl
import struct
import time

from firmware.hal import interface as hi
from firmware.protocols.ccs.net import ipv6, tcp
from firmware.protocols.ccs.net.raw_transport import RawTransport

ETH_P_ALL = 0x0003          # linux/if_ether.h: every protocol
PACKET_OUTGOING = 4         # linux/if_packet.h: a copy of a frame this host sent
ARPHRD_ETHER = 1            # linux/if_arp.h
SOL_PACKET = 263            # linux/socket.h
PACKET_AUXDATA = 8          # linux/if_packet.h: struct tpacket_auxdata with every frame
TP_STATUS_CSUMNOTREADY = 8  # the frame's L4 checksum is still to be filled in (a local sender's offload)
AUX_SPACE = socket.CMSG_SPACE(20)      # sizeof(struct tpacket_auxdata)
L4_CSUM_AT = {ipv6.NH_TCP: 16, ipv6.NH_UDP: 6, ipv6.NH_ICMPV6: 2}
MAX_FRAME = 65535          # read whole: a veth may hand over GSO frames above the MTU (the stack drops them)


class LinkError(Exception):
    """The frame link cannot be opened or the interface cannot be used (message for the user)."""


def _check_ifname(iface):
    # Linux interface names: 1..15 bytes, no '/', no whitespace (dev_valid_name); the name
    # also goes into a /proc path, so refuse anything else before touching it
    if not iface or len(iface) > 15 or iface in (".", "..") or any(ch in iface for ch in "/: \t\n\0"):
        raise LinkError("%r is not a valid interface name" % (iface,))


def finish_checksum(frame):
    """A frame the kernel hands over with TP_STATUS_CSUMNOTREADY (a veth peer on this host
    offloads its checksums to a NIC that does not exist) carries only the pseudo-header sum
    in its TCP/UDP/ICMPv6 checksum field: fill in the real one, as the NIC would have, so the
    box's stack (which checks every checksum) sees what it would get from a real link.
    Returns the finished frame, or the frame unchanged when it is not plain IPv6 + TCP/UDP/ICMPv6."""
    if len(frame) < ipv6.ETH_HDR + ipv6.IP6_HDR or frame[12] != 0x86 or frame[13] != 0xDD:
        return frame
    nh = frame[ipv6.ETH_HDR + 6]
    at = L4_CSUM_AT.get(nh)
    start = ipv6.ETH_HDR + ipv6.IP6_HDR
    plen = (frame[ipv6.ETH_HDR + 4] << 8) | frame[ipv6.ETH_HDR + 5]
    if at is None or plen < at + 2 or start + plen > len(frame):
        return frame
    src = bytes(frame[ipv6.ETH_HDR + 8:ipv6.ETH_HDR + 24])
    dst = bytes(frame[ipv6.ETH_HDR + 24:ipv6.ETH_HDR + 40])
    l4 = ipv6.with_checksum(src, dst, nh, bytearray(frame[start:start + plen]), at)
    return bytes(frame[:start]) + bytes(l4) + bytes(frame[start + plen:])


class PacketLink(hi.FrameLink):
    """Raw Ethernet frames on one interface. Frames this socket sent itself (the
    PACKET_OUTGOING copies) are not handed back. `recorder(t, frame)` (optional) sees
    every frame both ways, for pcap captures. `sock`: an unbound AF_PACKET socket made
    elsewhere (e.g. inside another network namespace); default: one in this namespace."""

    def __init__(self, iface, recorder=None, sock=None):
        _check_ifname(iface)
        self.ifname = iface
        if sock is None:
            try:
                # protocol 0 until bound: no frames from other interfaces queue up meanwhile
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            except PermissionError:
                raise LinkError("cannot open a raw (AF_PACKET) socket: needs root or CAP_NET_RAW") from None
            except OSError as e:
                raise LinkError("cannot open a raw (AF_PACKET) socket: %s" % e.strerror) from None
        try:
            sock.bind((iface, ETH_P_ALL))
        except OSError as e:
            sock.close()
            if e.errno == 19:       # ENODEV
                raise LinkError("no interface %r in this network namespace" % iface) from None
            raise LinkError("cannot bind a raw socket to %s: %s" % (iface, e.strerror or e)) from None
        name = sock.getsockname()   # (ifname, proto, pkttype, hatype, addr)
        if name[3] != ARPHRD_ETHER or len(name[4]) < 6 or not any(name[4][:6]) or name[4][0] & 1:
            sock.close()
            raise LinkError("%s is not an Ethernet interface with a unicast MAC address (type %d, address %s)"
                            % (iface, name[3], name[4].hex()))
        try:
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self.auxdata = True
        except OSError:
            self.auxdata = False
        sock.setblocking(False)
        self.sock = sock
        self.checksums_finished = 0
        self.mac = bytes(name[4][:6])
        self.recorder = recorder
        self.sent = 0
        self.received = 0
        self.send_errors = 0

    def fileno(self):
        return self.sock.fileno()

    def send(self, frame):
        try:
            self.sock.send(frame)
        except OSError:
            self.send_errors += 1
            return False    # link down, queue full: the frame is lost, as on a cable (TCP retransmits)
        self.sent += 1
        if self.recorder is not None:
            self.recorder(time.time(), bytes(frame))
        return True

    def recv(self):
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(MAX_FRAME, AUX_SPACE)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                return None
            if addr[2] == PACKET_OUTGOING:
                continue
            for level, kind, cdata in anc:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= 4:
                    if struct.unpack_from("=I", cdata)[0] & TP_STATUS_CSUMNOTREADY:
                        data = finish_checksum(data)
                        self.checksums_finished += 1
            self.received += 1
            if self.recorder is not None:
                self.recorder(time.time(), data)
            return data

    def close(self):
        self.sock.close()


class KernelIPv6:
    """The kernel's IPv6 on one interface (/proc/sys/net/ipv6/conf/IFACE/disable_ipv6)."""

    def __init__(self, iface):
        _check_ifname(iface)
        self.path = "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % iface
        self.iface = iface
        self.restore = None

    def enabled(self):
        """True / False, or None when the kernel has no IPv6 for the interface."""
        try:
            with open(self.path) as f:
                return f.read().strip() == "0"
        except OSError:
            return None

    def disable(self):
        """Switch it off; remember to switch it back on in restore_on_exit(). Raises LinkError
        when not permitted."""
        try:
            with open(self.path, "w") as f:
                f.write("1\n")
        except OSError as e:
            raise LinkError("the kernel's IPv6 is on for %s and would answer for the box's address "
                            "(neighbour adverts, TCP resets); it cannot be switched off here (%s): run "
                            "`sysctl -w net.ipv6.conf.%s.disable_ipv6=1` first or run as root"
                            % (self.iface, e.strerror or e, self.iface)) from None
        if self.enabled():
            raise LinkError("the kernel's IPv6 on %s did not switch off" % self.iface)
        self.restore = "0"

    def restore_on_exit(self):
        if self.restore is None:
            return
        try:
            with open(self.path, "w") as f:
                f.write(self.restore + "\n")
        except OSError:
            pass
        self.restore = None


class RawHostTransport:
    """The V2G transport contract (firmware/protocols/ccs/transport.py) on the box's raw stack,
    for the CPython CLI. Times in ms of the one clock the CLI passes in; next_timer() is
    relative (ms until poll is needed), as the contract says."""

    tls_port = None

    def __init__(self, iface, tcp_port=0, recorder=None, rng=os.urandom):
        self.link = PacketLink(iface, recorder=recorder)
        self.inner = RawTransport(self.link, self.link.mac, rng, tcp_port=tcp_port or None)
        self.tcp_port = self.inner.tcp_port
        self.stack = self.inner.stack
        self.tls_failures = []
        self.tls_sessions = []
        self._now = 0

    def open(self, now):
        self._now = int(now)
        self.inner.open(self._now)

    def local_endpoint(self):
        return self.inner.local_endpoint()

    def poll(self, now):
        self._now = int(now)
        return self.inner.poll(self._now)

    def send_sdp(self, dst_endpoint, payload):
        self.inner.send_sdp(dst_endpoint, payload)

    def send(self, conn_id, data):
        return self.inner.send(conn_id, data)

    def close(self, conn_id):
        self.inner.close(conn_id)

    def next_timer(self):
        return self.inner.next_timer()

    def wait(self, timeout_s):
        """Block until a frame arrives or timeout_s passes (the CLI's idle wait)."""
        if timeout_s <= 0:
            return
        try:
            select.select([self.link], [], [], timeout_s)
        except (OSError, ValueError):
            pass

    def counters(self):
        """The stack's counters that are not zero, and the link's (for the session record)."""
        out = dict((k, v) for k, v in self.stack.counters.items() if v)
        for k in ("checksums_finished", "send_errors"):
            if getattr(self.link, k):
                out["link_" + k] = getattr(self.link, k)
        return out

    def busy(self):
        """True while a connection is open or our FIN is not yet acknowledged: the CLI lets the
        close handshake finish before it exits (the kernel would do it for a socket)."""
        return any(c.state not in (tcp.FIN_WAIT_2, tcp.TIME_WAIT, tcp.CLOSED) for c in self.stack.conns.values())

    def shutdown(self):
        """Close every open connection (FIN) and the link."""
        for c in list(self.stack.conns.values()):
            if not c.finished():
                self.inner.close(c.id)      # FIN; the link closes right after, as a box switched off
        self.link.close()


TLS_HANDSHAKE_TIMEOUT_MS = 5000     # as the kernel transport's (kernel_transport.TLS_HANDSHAKE_TIMEOUT_S)
TLS_CHUNK = 2048                    # ciphertext handed to the stack per send (its send buffer is 8 KiB)
DYN_PORT_MIN = 49152                # SDP advertises a port of the dynamic range (as the kernel transport)


class _TlsConn:
    def __init__(self, obj, inc, out, deadline, peer):
        self.obj = obj
        self.inc = inc
        self.out = out
        self.deadline = deadline
        self.peer = peer
        self.up = False         # handshake done, the SECC knows the connection
        self.pending = b""      # ciphertext the stack's send buffer could not take yet


class RawTlsTransport:
    """TLS on the box's raw stack, on CPython: a second listener on the stack that SDP advertises
    with security 0x00, each of its connections run through ssl.SSLObject over memory BIOs
    (the TCP stream is the stack's, the TLS is Python's `ssl` with the --cert-dir context). The
    SECC sees plaintext and ("connected", cid) once the handshake is done; is_secure(cid),
    tls_failures and tls_sessions as on the kernel transport. Everything else is the inner
    RawHostTransport's. (On the MCU there is no such layer: docs/tls.md.)"""

    def __init__(self, inner, ctx, tls_port=0, rng=os.urandom):
        self.inner = inner
        self.ctx = ctx
        if not tls_port:
            while True:
                r = rng(2)
                tls_port = DYN_PORT_MIN + (((r[0] << 8) | r[1]) % 16384)
                if tls_port != inner.tcp_port:
                    break
        self.tls_port = tls_port
        self.tls = {}                # cid -> _TlsConn
        self.secure = set()
        self.tls_failures = []
        self.tls_sessions = []

    def __getattr__(self, name):     # tcp_port, stack, wait, busy, counters, send_sdp, local_endpoint ...
        return getattr(self.inner, name)

    def open(self, now):
        self.inner.open(now)
        self.inner.stack.listen(self.tls_port)

    def tls_endpoint(self):
        return (self.inner.local_endpoint()[0], self.tls_port)

    def is_secure(self, conn_id):
        return conn_id in self.secure

    def poll(self, now):
        out = []
        for e in self.inner.poll(now):
            k = e[0]
            cid = e[1] if k != "sdp" else None
            if k == "connected":
                c = self.inner.stack.conn(cid)
                if c is not None and c.lport == self.tls_port:
                    inc, o = ssl.MemoryBIO(), ssl.MemoryBIO()
                    obj = self.ctx.wrap_bio(inc, o, server_side=True)
                    self.tls[cid] = _TlsConn(obj, inc, o, now + TLS_HANDSHAKE_TIMEOUT_MS, ipv6.fmt(c.remote))
                    continue
            elif k == "data" and cid in self.tls:
                self._tls_data(cid, e[2], now, out)
                continue
            elif k == "closed" and cid in self.tls:
                t = self.tls.pop(cid)
                self.secure.discard(cid)
                if t.up:
                    out.append(e)
                else:
                    self.tls_failures.append("TLS handshake with %s refused: connection %s" % (t.peer, e[2]))
                continue
            out.append(e)
        for cid, t in list(self.tls.items()):
            if not t.up and now > t.deadline:
                self._refuse(cid, t, "handshake timeout")
            elif t.pending:
                self._flush(cid, t)
        return out

    def _tls_data(self, cid, data, now, out):
        t = self.tls[cid]
        t.inc.write(data)
        if not t.up:
            try:
                t.obj.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                self._flush(cid, t)
                return
            except ssl.SSLError as e:
                self._flush(cid, t)     # the alert, when there is one
                self._refuse(cid, t, getattr(e, "reason", None) or str(e))
                return
            t.up = True
            self.secure.add(cid)
            self.tls_sessions.append((cid, t.obj.version(), (t.obj.cipher() or ("?",))[0]))
            out.append(("connected", cid))
        plain = bytearray()
        while True:
            try:
                b = t.obj.read(16384)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except ssl.SSLZeroReturnError:      # close_notify: the TCP FIN follows
                break
            except ssl.SSLError as e:
                self._flush(cid, t)
                out.append(("closed", cid, "tls: %s" % (getattr(e, "reason", None) or e)))
                self.tls.pop(cid, None)
                self.secure.discard(cid)
                self.inner.close(cid)
                return
            if not b:
                break
            plain.extend(b)
        self._flush(cid, t)
        if plain:
            out.append(("data", cid, bytes(plain)))

    def _flush(self, cid, t):
        t.pending += t.out.read()
        while t.pending:
            k = t.pending[:TLS_CHUNK]
            if not self.inner.send(cid, k):
                return              # the stack's send buffer is full: again at the next poll
            t.pending = t.pending[len(k):]

    def _refuse(self, cid, t, reason):
        self.tls.pop(cid, None)
        self.tls_failures.append("TLS handshake with %s refused: %s" % (t.peer, reason))
        self.inner.close(cid)

    def send(self, conn_id, data):
        t = self.tls.get(conn_id)
        if t is None:
            return self.inner.send(conn_id, data)
        if not t.up:
            return False
        try:
            t.obj.write(data)
        except ssl.SSLError:
            return False
        self._flush(conn_id, t)
        return True

    def close(self, conn_id):
        t = self.tls.get(conn_id)
        if t is not None and t.up:
            try:
                t.obj.unwrap()          # close_notify out; the peer's answer is not waited for
            except ssl.SSLError:
                pass
            self._flush(conn_id, t)
        self.inner.close(conn_id)

    def next_timer(self):
        n = self.inner.next_timer()
        if any(t.pending for t in self.tls.values()):
            return 0
        if any(not t.up for t in self.tls.values()):
            n = 100 if n is None else min(n, 100)     # handshake deadline checks
        return n
