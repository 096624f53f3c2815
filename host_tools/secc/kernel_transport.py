"""The V2G transport contract (firmware/protocols/ccs/transport.py) on Linux kernel sockets.

CPython only. UDP 15118 joined to ff02::1 on one interface for SDP, a TCP listener on
the interface's link-local address; everything non-blocking, polled by the SECC loop.
Binding to the device (SO_BINDTODEVICE) needs root or CAP_NET_RAW; without it the
sockets still work, filtered by the interface's scope id.
"""
import errno
import os
import random
import select
import socket
import struct
import time

SDP_PORT = 15118
DYN_PORT_MIN = 49152
DYN_PORT_MAX = 65535
ALL_NODES = "ff02::1"
_IFA_F_TENTATIVE = 0x40
_IFA_F_DADFAILED = 0x08


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
    def __init__(self, iface, tcp_port=0, bind_device=True):
        self.iface = iface
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
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._bind_dev(ls)
        if self.tcp_port:
            ls.bind((addr_s, self.tcp_port, 0, self.ifindex))
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
        self.lsock = ls
        self.tcp_port = ls.getsockname()[1]

    def _bind_dev(self, s):
        if self.bind_device:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.iface.encode())
            except PermissionError:
                pass

    def local_endpoint(self):
        return self.addr, self.tcp_port

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
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cid = self._next
            self._next += 1
            self.conns[cid] = [s, bytearray()]
            ev.append(("connected", cid))
        for cid in list(self.conns):
            s = self.conns[cid][0]
            while True:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionResetError:
                    self._drop(cid)
                    ev.append(("closed", cid, "reset"))
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
            except (BlockingIOError, InterruptedError):
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

    def _drop(self, cid):
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
        socks = [s for s in (self.udp, self.lsock) if s is not None] + [c[0] for c in self.conns.values()]
        if not socks or timeout_s <= 0:
            return
        try:
            select.select(socks, [], [], timeout_s)
        except (OSError, ValueError):
            pass

    def shutdown(self):
        for cid in list(self.conns):
            self._drop(cid)
        for s in (self.udp, self.lsock):
            if s is not None:
                s.close()
        self.udp = self.lsock = None


def have_root():
    return os.geteuid() == 0
