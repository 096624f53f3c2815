"""The V2G transport contract (firmware/protocols/ccs/transport.py) on Linux kernel sockets.

CPython only. UDP 15118 joined to ff02::1 on one interface for SDP, a TCP listener on
the interface's link-local address; everything non-blocking, polled by the SECC loop.
Binding to the device (SO_BINDTODEVICE) needs root or CAP_NET_RAW; without it the
sockets still work, filtered by the interface's scope id.

TLS (ISO 15118-20 needs TLS 1.3; ISO 15118-2 uses TLS 1.2): pass an `ssl.SSLContext`
(server side, see `server_context`) as `tls_context` and the transport opens a second
TCP listener for TLS next to the plain one. `tls_endpoint()` gives its (address, port)
for the SDP response with security 0x00; `is_secure(conn_id)` tells the SECC which
connections are TLS. A TLS connection is reported as "connected" only after its
handshake completed; a failed or stalled handshake (wrong version, unknown CA, a
client certificate that does not verify, timeout) never reaches the SECC: the socket
is closed and the reason is appended to `tls_failures` (the CLI logs it).
"""
import errno
import os
import random
import select
import socket
import ssl
import struct
import time

SDP_PORT = 15118
DYN_PORT_MIN = 49152
DYN_PORT_MAX = 65535
ALL_NODES = "ff02::1"
_IFA_F_TENTATIVE = 0x40
_IFA_F_DADFAILED = 0x08
TLS_HANDSHAKE_TIMEOUT_S = 5.0


def link_local(iface):
    """(address bytes16, tentative) of the interface's fe80:: address, or None."""
    try:
        with open("/proc/net/if_inet6") as f:
            rows = f.read().split("\n")
    except OSError:
        return None
    for row in rows:
        p = row.split()
        if len(p) == 6 and p[5] == iface and p[0].startswith("fe80"):
            flags = int(p[4], 16)
            if flags & _IFA_F_DADFAILED:
                continue
            return bytes.fromhex(p[0]), bool(flags & _IFA_F_TENTATIVE)
    return None


def wait_link_local(iface, timeout_s=5.0):
    """The interface's usable link-local address (bytes16), waiting for DAD up to timeout_s."""
    end = time.monotonic() + timeout_s
    while True:
        ll = link_local(iface)
        if ll is not None and not ll[1]:
            return ll[0]
        if time.monotonic() > end:
            raise OSError(errno.EADDRNOTAVAIL, "no usable fe80:: address on %s%s" % (
                iface, " (still tentative)" if ll else ""))
        time.sleep(0.05)


class KernelTransport:
    def __init__(self, iface, tcp_port=0, bind_device=True, tls_context=None, tls_port=0):
        self.iface = iface
        self.tls_context = tls_context
        self.tls_port = tls_port
        self.tls_lsock = None
        self.handshaking = {}    # ssl socket -> (deadline, peer)
        self.secure = set()      # conn ids on TLS
        self.tls_failures = []   # reason strings of refused TLS connections
        self.tls_sessions = []   # (conn id, TLS version, cipher name) of completed handshakes
        self.ifindex = socket.if_nametoindex(iface)
        self.tcp_port = tcp_port
        self.bind_device = bind_device
        self.addr = None
        self.udp = None
        self.lsock = None
        self.conns = {}          # cid -> [socket, out bytearray]
        self._next = 1
        self._events = []

    # ------------------------------------------------------------ contract
    def open(self, now):
        self.addr = wait_link_local(self.iface)
        addr_s = socket.inet_ntop(socket.AF_INET6, self.addr)
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._bind_dev(u)
        u.bind(("::", SDP_PORT))
        mreq = socket.inet_pton(socket.AF_INET6, ALL_NODES) + struct.pack("@I", self.ifindex)
        try:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        except OSError as e:       # all-nodes is joined by the kernel already on most systems
            if e.errno != errno.EADDRINUSE:
                raise
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        u.setblocking(False)
        self.udp = u
        self.lsock = self._listen(addr_s, self.tcp_port)
        self.tcp_port = self.lsock.getsockname()[1]
        if self.tls_context is not None:
            self.tls_lsock = self._listen(addr_s, self.tls_port)
            self.tls_port = self.tls_lsock.getsockname()[1]

    def _listen(self, addr_s, port):
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._bind_dev(ls)
        if port:
            ls.bind((addr_s, port, 0, self.ifindex))
        else:
            # SDP advertises a port of the dynamic range 49152-65535 (ISO 15118-2 / DIN SDP;
            # Josev's EVCC rejects an SDP response with any other port: shared/messages/sdp.py)
            for _ in range(64):
                try:
                    ls.bind((addr_s, random.randint(DYN_PORT_MIN, DYN_PORT_MAX), 0, self.ifindex))
                    break
                except OSError as e:
                    if e.errno != errno.EADDRINUSE:
                        raise
            else:
                raise OSError(errno.EADDRINUSE, "no free TCP port in 49152-65535")
        ls.listen(2)
        ls.setblocking(False)
        return ls

    def _bind_dev(self, s):
        if self.bind_device:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.iface.encode())
            except PermissionError:
                pass

    def local_endpoint(self):
        return self.addr, self.tcp_port

    def tls_endpoint(self):
        """(address, TLS port) when TLS is on, else None (optional part of the contract)."""
        if self.tls_lsock is None:
            return None
        return self.addr, self.tls_port

    def is_secure(self, conn_id):
        return conn_id in self.secure

    def poll(self, now):
        ev = self._events
        self._events = []
        if self.udp is None:
            return ev
        while True:
            try:
                data, src = self.udp.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if src[3] not in (0, self.ifindex):
                continue
            ev.append(("sdp", (socket.inet_pton(socket.AF_INET6, src[0].split("%")[0]), src[1]), data))
        while True:
            try:
                s, _peer = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                break
            ev.append(("connected", self._add(s)))
        if self.tls_lsock is not None:
            self._tls_poll(ev)
        for cid in list(self.conns):
            s = self.conns[cid][0]
            while True:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                except ssl.SSLZeroReturnError:
                    self._drop(cid)
                    ev.append(("closed", cid, "peer"))
                    break
                except OSError as e:      # reset, or a TLS record error (ssl.SSLError)
                    self._drop(cid)
                    ev.append(("closed", cid, "reset" if isinstance(e, ConnectionResetError)
                               else "tls: %s" % (getattr(e, "reason", None) or e)))
                    break
                if not data:
                    self._drop(cid)
                    ev.append(("closed", cid, "peer"))
                    break
                ev.append(("data", cid, data))
            if cid in self.conns:
                self._flush(cid)
        return ev

    def send_sdp(self, dst_endpoint, payload):
        addr, port = dst_endpoint
        try:
            self.udp.sendto(payload, (socket.inet_ntop(socket.AF_INET6, addr), port, 0, self.ifindex))
        except OSError:
            pass

    def send(self, conn_id, data):
        c = self.conns.get(conn_id)
        if c is None:
            return
        c[1].extend(data)
        self._flush(conn_id)

    def _flush(self, cid):
        s, out = self.conns[cid]
        while out:
            try:
                n = s.send(out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                self._drop(cid)
                self._events.append(("closed", cid, "reset"))
                return
            del out[:n]

    def close(self, conn_id):
        if conn_id in self.conns:
            c = self.conns[conn_id]
            if c[1]:
                try:
                    c[0].setblocking(True)
                    c[0].settimeout(0.5)
                    c[0].sendall(c[1])
                except OSError:
                    pass
            self._drop(conn_id)
            self._events.append(("closed", conn_id, "local"))

    def _add(self, s):
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = self._next
        self._next += 1
        self.conns[cid] = [s, bytearray()]
        return cid

    def _tls_poll(self, ev):
        while True:
            try:
                s, peer = self.tls_lsock.accept()
            except (BlockingIOError, InterruptedError):
                break
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ts = self.tls_context.wrap_socket(s, server_side=True, do_handshake_on_connect=False)
            self.handshaking[ts] = (time.monotonic() + TLS_HANDSHAKE_TIMEOUT_S, peer[0])
        for ts in list(self.handshaking):
            deadline, peer = self.handshaking[ts]
            try:
                ts.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                if time.monotonic() > deadline:
                    self._tls_refuse(ts, peer, "handshake timeout")
                continue
            except (ssl.SSLError, OSError) as e:
                self._tls_refuse(ts, peer, getattr(e, "reason", None) or str(e) or type(e).__name__)
                continue
            del self.handshaking[ts]
            cid = self._add(ts)
            self.secure.add(cid)
            self.tls_sessions.append((cid, ts.version(), (ts.cipher() or ("?",))[0]))
            ev.append(("connected", cid))

    def _tls_refuse(self, ts, peer, reason):
        self.handshaking.pop(ts, None)
        self.tls_failures.append("TLS handshake with %s refused: %s" % (peer, reason))
        try:
            ts.close()
        except OSError:
            pass

    def _drop(self, cid):
        self.secure.discard(cid)
        c = self.conns.pop(cid, None)
        if c is not None:
            try:
                c[0].close()
            except OSError:
                pass

    def next_timer(self):
        if self._events or any(c[1] for c in self.conns.values()):
            return 0
        return None

    # ------------------------------------------------------------ host helpers
    def wait(self, timeout_s):
        """Block until a socket is readable or timeout_s passes (the CLI's idle wait)."""
        socks = ([s for s in (self.udp, self.lsock, self.tls_lsock) if s is not None] + [c[0] for c in self.conns.values()]
                 + list(self.handshaking))
        if not socks or timeout_s <= 0:
            return
        try:
            select.select(socks, [], [], timeout_s)
        except (OSError, ValueError):
            pass

    def shutdown(self):
        for cid in list(self.conns):
            self._drop(cid)
        for ts in list(self.handshaking):
            ts.close()
        self.handshaking = {}
        for s in (self.udp, self.lsock, self.tls_lsock):
            if s is not None:
                s.close()
        self.udp = self.lsock = self.tls_lsock = None


def have_root():
    return os.geteuid() == 0


def server_context(cert_dir, min_version="1.3", verify_client=False, client_ca=None):
    """Server-side SSLContext from a `--cert-dir` laid out like host_tools/secc/pki.py makes it:
    secc_chain.pem (leaf + sub-CAs), secc.key.pem, and v2g_root.pem (client CA, mutual auth only,
    unless `client_ca` names another file: in -20 the EVCC's chain ends at an OEM root).
    min_version "1.3" for ISO 15118-20 (TLS 1.3 only: [V2G20-2356], reference sheet §8), "1.2" for -2.
    Raises OSError/ssl.SSLError/ValueError on a bad directory, version or key."""
    import os.path
    if min_version not in ("1.2", "1.3"):
        raise ValueError("TLS version %r (1.2 or 1.3)" % (min_version,))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(os.path.join(cert_dir, "secc_chain.pem"), os.path.join(cert_dir, "secc.key.pem"))
    if verify_client:
        ctx.load_verify_locations(client_ca or os.path.join(cert_dir, "v2g_root.pem"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
