"""The V2G transport (contract in firmware/protocols/ccs/transport.py, owned by
the SECC issue) on the box's own stack over a raw-frame link: the MCU's
QCA7000 SPI link on the board, an AF_PACKET socket in the HIL rigs.

An edge object (it does the link I/O), polled by the app with the clock's
now. Frames that are not IPv6 (SLAC's 0x88E1) go to `other(frame, now)`
when given, so SLAC and IP share one modem link.

    open(now); local_endpoint() -> (ip16, port); poll(now) -> events
    ("sdp", (ip16, port), payload) | ("connected", cid) | ("data", cid, bytes)
    | ("closed", cid, reason); send_sdp((ip16, port), payload);
    send(cid, bytes) -> bool; close(cid); next_timer() -> ms or None.

next_timer() is "ms until poll is needed" (relative to the last `now` given), as the V2G
transport contract says; due() is the same deadline as an absolute time on the `now` clock,
for the link layer whose other timers (pilot, SLAC) are absolute (link.py).
"""
from micropython import const

from firmware.protocols.ccs.net.stack import Stack

SDP_PORT = const(15118)         # ISO 15118-2 / DIN 70121 SDP server port (UDP)
RX_PER_POLL = const(32)         # frames taken per poll: bounded work per call


class RawTransport:
    def __init__(self, link, mac, rng, tcp_port=None, other=None):
        self.link = link
        self.stack = Stack(mac, rng)
        if tcp_port is None:
            r = rng(2)
            tcp_port = 49152 + (((r[0] << 8) | r[1]) % 16384)  # ephemeral range, as Josev's SECC
        self.tcp_port = tcp_port
        self.other = other
        self._now = 0
        self.is_open = False

    def open(self, now):
        self._now = now
        self.stack.bind_udp(SDP_PORT)
        self.stack.listen(self.tcp_port)
        self.stack.announce()
        self.is_open = True
        self._flush()

    def local_endpoint(self):
        return (self.stack.ip, self.tcp_port)

    def poll(self, now):
        self._now = now
        st = self.stack
        for _ in range(RX_PER_POLL):
            f = self.link.recv()
            if f is None:
                break
            if len(f) >= 14 and f[12] == 0x86 and f[13] == 0xDD:
                st.receive(f, now)
            elif self.other is not None:
                self.other(f, now)
            else:
                st.counters["ethertype"] += 1
        t = st.next_timer()
        if t is not None and now >= t:
            st.handle_timer(now)
        evs = st.events()          # may queue window updates: flush after taking events
        self._flush()
        if not evs:
            return evs             # the stack's shared empty list: nothing allocated when idle
        out = []
        for e in evs:
            k = e[0]
            if k == "udp":
                if e[1] == SDP_PORT:
                    out.append(("sdp", e[2], e[3]))
            elif k == "connected":
                out.append(("connected", e[1]))
            else:
                out.append(e)
        return out

    def send_sdp(self, dst_endpoint, payload):
        # SDP answers go unicast to the requester (Josev sdp.py; ISO 15118-2 [V2G2-159])
        self.stack.send_udp(SDP_PORT, dst_endpoint[0], dst_endpoint[1], payload, self._now)
        self._flush()

    def send(self, conn_id, data):
        ok = self.stack.tcp_send(conn_id, data, self._now)
        self._flush()
        return ok

    def close(self, conn_id):
        self.stack.tcp_close(conn_id, self._now)
        self._flush()

    def next_timer(self):
        t = self.stack.next_timer()
        if t is None:
            return None
        t -= self._now
        return t if t > 0 else 0

    def due(self):
        return self.stack.next_timer()

    def _flush(self):
        for f in self.stack.to_send(self._now):
            self.link.send(f)
