"""The V2G transport contract (owned here; implemented on the box's raw stack
in firmware/protocols/ccs/net/ and on kernel sockets in host_tools/secc/).

A transport is an edge object: it does the I/O, the SECC core does not. The
application polls it with the one clock's `now` (ms, int):

    open(now)            start: UDP SDP server on port 15118 joined to the
                         link-local all-nodes group ff02::1 on the interface,
                         and a TCP listener on a port of the transport's choice
    local_endpoint()     -> (ipv6_addr_bytes16, tcp_port): the link-local address
                         and TCP port the SDP response advertises
    poll(now)            -> list of events, each a tuple:
                           ("sdp", src_endpoint, payload_bytes)
                           ("connected", conn_id)
                           ("data", conn_id, bytes)
                           ("closed", conn_id, reason_str)
    send_sdp(dst_endpoint, payload_bytes)
    send(conn_id, bytes)
    close(conn_id)
    next_timer()         -> ms until the transport needs `poll` again, or None
    shutdown()           stop listening and drop every connection (optional
                         in the contract; the kernel and memory transports have it)

Conventions:
  * payload_bytes of "sdp" events and of send_sdp are the whole UDP payload,
    V2GTP header included: the transport neither parses nor builds SDP/V2GTP
    (sdp.py and v2gtp.py do).
  * src_endpoint / dst_endpoint = (ipv6_addr_bytes16, udp_port). An SDP reply
    goes to the source endpoint of the request. The transport knows its own
    interface (the scope of every link-local address).
  * conn_id is an int, unique for the transport's lifetime.
  * "data" carries whatever the stream delivered: a part of a V2GTP message,
    one message, or several (v2gtp.Deframer reassembles).
  * "closed" reasons: "peer" (FIN from the EV), "reset", "timeout", "local"
    (after close()), or an implementation-specific text.
  * send/close on an unknown or closed conn_id are ignored (the "closed" event
    is the single source of truth); send never blocks: a transport queues.
  * the SECC accepts one V2G connection at a time; extra connections may be
    accepted by the transport and are closed by the SECC.

MemoryTransport below implements the contract in memory (no I/O); the tests,
the scripted EVCC and the MicroPython device tests use it as the box side of
an in-process link.
"""


class Transport:
    """Documentation of the contract; implementations need not inherit."""

    def open(self, now):
        raise NotImplementedError

    def local_endpoint(self):
        raise NotImplementedError

    def poll(self, now):
        raise NotImplementedError

    def send_sdp(self, dst_endpoint, payload):
        raise NotImplementedError

    def send(self, conn_id, data):
        raise NotImplementedError

    def close(self, conn_id):
        raise NotImplementedError

    def next_timer(self):
        return None


class MemoryTransport(Transport):
    """In-memory SECC-side transport. The peer (an in-process EVCC) uses the
    `ev_*` methods:

        t.ev_sdp(src_endpoint, datagram)   EV multicasts an SDP request
        t.ev_sdp_replies()                 -> [(dst_endpoint, datagram)] sent by the SECC
        cid = t.ev_connect()               EV opens TCP to local_endpoint()
        t.ev_send(cid, data)               EV -> SECC bytes
        t.ev_recv(cid)                     -> bytes the SECC sent (drained)
        t.ev_close(cid)                    EV closes
        t.ev_closed(cid)                   -> True when the SECC closed
    """

    def __init__(self, addr16=b"\xfe\x80" + bytes(6) + b"\x02\x00\x00\xff\xfe\x00\x00\x01", port=15118):
        self.addr16 = bytes(addr16)
        self.port = port
        self.opened = False
        self._events = []
        self._sdp_out = []
        self._to_ev = {}
        self._secc_closed = {}
        self._open_conns = {}
        self._next_id = 1

    # -------------------------------------------------- contract (SECC side)
    def open(self, now):
        self.opened = True

    def local_endpoint(self):
        return self.addr16, self.port

    def poll(self, now):
        ev = self._events
        self._events = []
        return ev

    def send_sdp(self, dst_endpoint, payload):
        self._sdp_out.append((dst_endpoint, bytes(payload)))

    def send(self, conn_id, data):
        if self._open_conns.get(conn_id):
            self._to_ev[conn_id].extend(data)

    def close(self, conn_id):
        if self._open_conns.get(conn_id):
            self._open_conns[conn_id] = False
            self._secc_closed[conn_id] = True
            self._events.append(("closed", conn_id, "local"))

    def next_timer(self):
        return 0 if self._events else None

    def shutdown(self):
        for cid in list(self._open_conns):
            self.close(cid)
        self.opened = False

    # -------------------------------------------------- peer side
    def ev_sdp(self, src_endpoint, datagram):
        if self.opened:
            self._events.append(("sdp", src_endpoint, bytes(datagram)))

    def ev_sdp_replies(self):
        out = self._sdp_out
        self._sdp_out = []
        return out

    def ev_connect(self):
        if not self.opened:
            raise OSError("connection refused")
        cid = self._next_id
        self._next_id += 1
        self._open_conns[cid] = True
        self._to_ev[cid] = bytearray()
        self._secc_closed[cid] = False
        self._events.append(("connected", cid))
        return cid

    def ev_send(self, cid, data):
        if self._open_conns.get(cid):
            self._events.append(("data", cid, bytes(data)))

    def ev_recv(self, cid):
        b = self._to_ev.get(cid)
        if not b:
            return b""
        out = bytes(b)
        self._to_ev[cid] = bytearray()
        return out

    def ev_close(self, cid, reason="peer"):
        """The EV closes (FIN: "peer") or resets ("reset") the connection."""
        if self._open_conns.get(cid):
            self._open_conns[cid] = False
            self._events.append(("closed", cid, reason))

    def ev_closed(self, cid):
        return bool(self._secc_closed.get(cid))
