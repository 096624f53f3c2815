"""The box's own IPv6 stack on the PLC link, sans-IO (the MCU has no OS).

`Stack(mac, rng)`: Ethernet frames in (`receive(frame, now)`), frames out
(`to_send(now)`), events out (`events()`), one timer (`next_timer()`,
`handle_timer(now)`). Link-local only, as ISO 15118 / DIN 70121 use it.

- address: fe80:: + modified EUI-64 of the MAC (RFC 4291); we answer for it,
  for ff02::1 and for its solicited-node group.
- neighbour discovery (RFC 4861): NS for our address -> NA (solicited,
  override, target link-layer option); a DAD probe for our address is
  answered to ff02::1. Sending to an unknown neighbour sends NS to its
  solicited-node group (NS_RETRIES at NS_INTERVAL) with one packet parked;
  neighbours are also learned from their NS/NA options and from the source
  MAC of packets they send us (the car always speaks first). Cache bounded
  (NC_MAX, oldest out).
- ICMPv6 echo -> reply (RFC 4443), at most PING_MAX bytes echoed.
- UDP (RFC 768/8200: checksum mandatory): bound ports deliver
  ("udp", port, (src_ip, src_port), payload).
- TCP server connections (tcp.py), at most CONN_MAX at a time.
- every malformed or unwanted packet is dropped and counted in `counters`.

Events: ("udp", lport, (ip, port), bytes) | ("connected", cid, lport) |
("data", cid, bytes) | ("closed", cid, reason).
"""
from micropython import const

from firmware.protocols.ccs.net import ipv6
from firmware.protocols.ccs.net import tcp

ICMP_ECHO_REQ = const(128)
ICMP_ECHO_REP = const(129)
ICMP_NS = const(135)
ICMP_NA = const(136)
OPT_SLLA = const(1)
OPT_TLLA = const(2)

NC_MAX = const(8)
NS_RETRIES = const(3)            # RFC 4861 MAX_MULTICAST_SOLICIT
NS_INTERVAL = const(1000)        # RFC 4861 RETRANS_TIMER, ms
PING_MAX = const(1232)           # echo payload cap: reply fits the 1280-byte minimum MTU
CONN_MAX = const(4)
TX_MAX = const(64)               # frames waiting for the edge

COUNTERS = ("rx", "tx", "short", "version", "ext", "fragment", "checksum", "not_for_us", "ethertype",
            "icmp_bad", "icmp_other", "nd_bad", "udp_bad", "udp_no_port", "tcp_header", "tcp_option",
            "tcp_no_conn", "tcp_conn_limit", "tx_dropped", "nd_unresolved",
            "tcp_in", "tcp_out", "tcp_dup", "tcp_out_of_window", "tcp_ooo", "tcp_ooo_dropped",
            "tcp_retransmits", "tcp_fast_retransmits", "tcp_timeouts", "tcp_rst_in", "tcp_old_ack",
            "tcp_sndbuf_full", "echo")


class Stack:
    def __init__(self, mac, rng):
        self.mac = bytes(mac)
        self.ip = ipv6.link_local_from_mac(self.mac)
        self.sn = ipv6.solicited_node(self.ip)
        self._rng = rng
        self.counters = {}
        for k in COUNTERS:
            self.counters[k] = 0
        self.nc = {}                 # ip -> mac
        self._nc_order = []
        self._pending = {}           # ip -> [frame_without_dst_mac_parts, tries, due]
        self.udp_ports = {}
        self.listen_ports = {}
        self.conns = {}              # (rip, rport, lport) -> TcpConn
        self._by_id = {}
        self._next_id = 1
        self._out = []
        self._events = []
        # returned by events() / to_send() when there is nothing: no list per idle call
        # (MicroPython heap); callers iterate the result and must not append to it
        self._none = []
        self._now = 0                # time of the last input (for output made by events())

    # ---------------------------------------------------------------- API
    def bind_udp(self, port):
        self.udp_ports[port] = True

    def listen(self, port):
        self.listen_ports[port] = True

    def events(self):
        ev = self._events
        if ev:
            self._events = []
            for e in ev:
                if e[0] == "data":
                    c = self._by_id.get(e[1])
                    if c is not None:
                        c.taken(len(e[2]))
        else:
            ev = self._none
        if self._by_id:
            for c in self._by_id.values():
                c.window_update(self._now)
                self._collect(c, self._now)
            self._reap()
        return ev

    def to_send(self, now=0):
        o = self._out
        if not o:
            return self._none
        self._out = []
        return o

    def send_udp(self, lport, dst, dport, payload, now, hop_limit=64):
        u = bytearray(8 + len(payload))
        u[0] = lport >> 8
        u[1] = lport & 0xFF
        u[2] = dport >> 8
        u[3] = dport & 0xFF
        n = len(u)
        u[4] = n >> 8
        u[5] = n & 0xFF
        u[8:] = payload
        ipv6.with_checksum(self.ip, dst, ipv6.NH_UDP, u, 6)
        self._ip_out(dst, ipv6.NH_UDP, u, now, hop_limit)

    def tcp_send(self, cid, data, now):
        c = self._by_id.get(cid)
        if c is None:
            return False
        ok = c.send(data, now)
        self._collect(c, now)
        return ok

    def tcp_close(self, cid, now):
        c = self._by_id.get(cid)
        if c is not None:
            c.close(now)
            self._collect(c, now)

    def conn(self, cid):
        return self._by_id.get(cid)

    def next_timer(self):
        t = None
        if self._pending:            # (iterating an empty dict still allocates in MicroPython)
            for p in self._pending.values():
                if t is None or p[2] < t:
                    t = p[2]
        if self._by_id:
            for c in self._by_id.values():
                x = c.next_timer()
                if x is not None and (t is None or x < t):
                    t = x
        return t

    def handle_timer(self, now):
        self._now = now
        for ip in list(self._pending):
            p = self._pending[ip]
            if now >= p[2]:
                if p[1] >= NS_RETRIES:
                    del self._pending[ip]
                    self.counters["nd_unresolved"] += 1
                else:
                    p[1] += 1
                    p[2] = now + NS_INTERVAL
                    self._send_ns(ip)
        for c in list(self._by_id.values()):
            c.handle_timer(now)
            self._collect(c, now)

    # ---------------------------------------------------------------- receive
    def receive(self, frame, now):
        self._now = now
        c = self.counters
        c["rx"] += 1
        if len(frame) < 14:
            c["short"] += 1
            return
        if frame[12] != 0x86 or frame[13] != 0xDD:
            c["ethertype"] += 1
            return
        try:
            smac, src, dst, nh, hop, p = ipv6.parse(frame)
        except ipv6.PacketError as e:
            c[e.kind] = c.get(e.kind, 0) + 1
            return
        if dst != self.ip and dst != ipv6.ALL_NODES and dst != self.sn:
            c["not_for_us"] += 1
            return
        try:
            if nh == ipv6.NH_ICMPV6:
                self._icmp(smac, src, dst, hop, p, now)
            elif nh == ipv6.NH_UDP:
                self._udp(smac, src, dst, p, now)
            elif nh == ipv6.NH_TCP:
                self._tcp(smac, src, dst, p, now)
            else:
                c["not_for_us"] += 1
        except ipv6.PacketError as e:
            c[e.kind] = c.get(e.kind, 0) + 1

    def _learn(self, ip, mac):
        if ip == ipv6.UNSPECIFIED or ipv6.is_multicast(ip) or mac[0] & 1:
            return
        if ip not in self.nc:
            self._nc_order.append(ip)
            if len(self._nc_order) > NC_MAX:
                old = self._nc_order.pop(0)
                self.nc.pop(old, None)
        self.nc[ip] = bytes(mac)
        p = self._pending.pop(ip, None)
        if p is not None:
            self._emit(ip, p[0])

    def _icmp(self, smac, src, dst, hop, p, now):
        c = self.counters
        if len(p) < 4:
            raise ipv6.PacketError("icmp_bad", "short ICMPv6")
        if ipv6.checksum(src, dst, ipv6.NH_ICMPV6, p) != 0:
            raise ipv6.PacketError("checksum", "ICMPv6 checksum")
        t = p[0]
        if t == ICMP_NS or t == ICMP_NA:
            # RFC 4861 7.1: hop limit 255, code 0, length >= 24
            if hop != 255 or p[1] != 0 or len(p) < 24:
                raise ipv6.PacketError("nd_bad", "ND message fails validation")
            target = bytes(p[8:24])
            lla = self._nd_option(p, OPT_SLLA if t == ICMP_NS else OPT_TLLA)
            if t == ICMP_NS:
                if ipv6.is_multicast(target):
                    raise ipv6.PacketError("nd_bad", "NS for a multicast target")
                if src == ipv6.UNSPECIFIED:
                    if dst != ipv6.solicited_node(target) or lla is not None:
                        raise ipv6.PacketError("nd_bad", "bad DAD probe")
                    if target == self.ip:
                        self._send_na(ipv6.ALL_NODES, ipv6.multicast_mac(ipv6.ALL_NODES), False)
                    return
                if lla is not None:
                    self._learn(src, lla)
                else:
                    self._learn(src, smac)
                if target == self.ip:
                    self._send_na(src, self.nc.get(src, smac), True)
                else:
                    c["not_for_us"] += 1
            else:
                self._learn(target, lla if lla is not None else smac)
            return
        if t == ICMP_ECHO_REQ:
            if p[1] != 0:
                raise ipv6.PacketError("icmp_bad", "echo code")
            if ipv6.is_multicast(dst) or len(p) - 8 > PING_MAX:
                c["icmp_other"] += 1
                return
            self._learn(src, smac)
            r = bytearray(p)
            r[0] = ICMP_ECHO_REP
            ipv6.with_checksum(self.ip, src, ipv6.NH_ICMPV6, r, 2)
            c["echo"] += 1
            self._ip_out(src, ipv6.NH_ICMPV6, r, now)
            return
        c["icmp_other"] += 1     # RS/RA/MLD/errors: not needed on a point-to-point PLC link

    def _nd_option(self, p, want):
        i = 24
        n = len(p)
        found = None
        while i < n:
            if i + 2 > n or p[i + 1] == 0 or i + p[i + 1] * 8 > n:
                raise ipv6.PacketError("nd_bad", "bad ND option")
            if p[i] == want and p[i + 1] == 1:
                found = bytes(p[i + 2:i + 8])
            i += p[i + 1] * 8
        return found

    def _udp(self, smac, src, dst, p, now):
        if len(p) < 8:
            raise ipv6.PacketError("udp_bad", "short UDP")
        ln = (p[4] << 8) | p[5]
        if ln < 8 or ln > len(p):
            raise ipv6.PacketError("udp_bad", "UDP length %d" % ln)
        p = p[:ln]
        if (p[6] | p[7]) == 0 or ipv6.checksum(src, dst, ipv6.NH_UDP, p) != 0:
            raise ipv6.PacketError("checksum", "UDP checksum")
        dport = (p[2] << 8) | p[3]
        if dport not in self.udp_ports:
            self.counters["udp_no_port"] += 1
            return
        if ipv6.is_link_local(src):
            self._learn(src, smac)
        self._events.append(("udp", dport, (src, (p[0] << 8) | p[1]), bytes(p[8:])))

    def _tcp(self, smac, src, dst, p, now):
        if dst != self.ip:
            raise ipv6.PacketError("not_for_us", "TCP to a multicast address")
        seg = tcp.parse(src, dst, p)
        self.counters["tcp_in"] += 1
        self._learn(src, smac)
        key = (src, seg.sport, seg.dport)
        c = self.conns.get(key)
        if c is not None and not c.finished():
            c.on_segment(seg, now)
            self._collect(c, now)
            return
        if c is not None:
            self._drop_conn(c)
        if seg.flags & tcp.RST:
            return
        if seg.flags & tcp.SYN and not seg.flags & tcp.ACK and seg.dport in self.listen_ports:
            if len(self._by_id) >= CONN_MAX:
                self.counters["tcp_conn_limit"] += 1
                self._ip_out(src, ipv6.NH_TCP, tcp.rst_for(src, dst, seg), now)
                return
            r = self._rng(4)
            iss = (r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
            cid = self._next_id
            self._next_id += 1
            c = tcp.TcpConn(cid, self.ip, seg.dport, src, seg.sport, seg, iss, now, self.counters)
            self.conns[key] = c
            self._by_id[cid] = c
            self._collect(c, now)
            return
        self.counters["tcp_no_conn"] += 1
        self._ip_out(src, ipv6.NH_TCP, tcp.rst_for(src, dst, seg), now)

    # ---------------------------------------------------------------- output
    def _collect(self, c, now=0):
        for seg in c.take_output():
            self._ip_out(c.remote, ipv6.NH_TCP, seg, now)
        for e in c.take_events():
            if e[0] == "connected":
                self._events.append(("connected", e[1], c.lport))
            else:
                self._events.append(e)

    def _reap(self):
        for key in list(self.conns):
            c = self.conns[key]
            if c.finished():
                self._drop_conn(c)

    def _drop_conn(self, c):
        self.conns.pop((c.remote, c.rport, c.lport), None)
        self._by_id.pop(c.id, None)

    def _ip_out(self, dst, nh, payload, now, hop_limit=64):
        f = ipv6.frame(b"\x00" * 6, self.mac, self.ip, dst, nh, payload, hop_limit)
        if ipv6.is_multicast(dst):
            self._emit_mac(ipv6.multicast_mac(dst), f)
            return
        mac = self.nc.get(dst)
        if mac is not None:
            self._emit_mac(mac, f)
            return
        if dst in self._pending:
            self._pending[dst][0] = f          # keep only the newest packet, as RFC 4861 allows
            return
        if len(self._pending) >= NC_MAX:
            self.counters["tx_dropped"] += 1
            return
        self._pending[dst] = [f, 1, now + NS_INTERVAL]
        self._send_ns(dst)

    def _emit(self, ip, f):
        self._emit_mac(self.nc[ip], f)

    def _emit_mac(self, mac, f):
        if len(self._out) >= TX_MAX:
            self.counters["tx_dropped"] += 1
            return
        f[0:6] = mac
        self.counters["tx"] += 1
        self._out.append(f)

    def _send_ns(self, target):
        m = bytearray(32)
        m[0] = ICMP_NS
        m[8:24] = target
        m[24] = OPT_SLLA
        m[25] = 1
        m[26:32] = self.mac
        dst = ipv6.solicited_node(target)
        ipv6.with_checksum(self.ip, dst, ipv6.NH_ICMPV6, m, 2)
        self._emit_mac(ipv6.multicast_mac(dst),
                       ipv6.frame(b"\x00" * 6, self.mac, self.ip, dst, ipv6.NH_ICMPV6, m, 255))

    def _send_na(self, dst, dst_mac, solicited):
        m = bytearray(32)
        m[0] = ICMP_NA
        m[4] = (0x40 if solicited else 0) | 0x20   # S, O flags
        m[8:24] = self.ip
        m[24] = OPT_TLLA
        m[25] = 1
        m[26:32] = self.mac
        ipv6.with_checksum(self.ip, dst, ipv6.NH_ICMPV6, m, 2)
        self._emit_mac(dst_mac, ipv6.frame(b"\x00" * 6, self.mac, self.ip, dst, ipv6.NH_ICMPV6, m, 255))

    def announce(self):
        """Unsolicited NA for our address (after the link comes up)."""
        self._send_na(ipv6.ALL_NODES, ipv6.multicast_mac(ipv6.ALL_NODES), False)
