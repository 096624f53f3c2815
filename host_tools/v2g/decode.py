"""Session timeline from captured frames: SLAC, neighbour discovery, SDP, TCP
connection events, V2GTP messages and their EXI content.

Parsing uses the firmware's own code: the SLAC MME codec
(firmware/protocols/ccs/slac/mme.py), the IPv6/TCP header parsers of the
box's stack (firmware/protocols/ccs/net) and the EXI codec
(firmware/v2g/exi, through host_tools/exi/jsonform). The EXI schema of the
session follows the appHandshake: the SchemaID the SECC confirms in
supportedAppProtocolRes picks the namespace the EV offered.

Every event is a dict with "t" (seconds since the first frame), "frame"
(1-based index) and "layer"; unknown or broken frames become events with
layer "unknown" / an "error" key, never exceptions.
"""
import struct

import firmware  # noqa: F401
from firmware.protocols.ccs.net import ipv6, tcp
from firmware.protocols.ccs.slac import mme
from host_tools.exi import jsonform

SDP_PORT = 15118

PAYLOAD_TYPES = {
    0x8001: "EXI (SAP / DIN / ISO-2)",
    0x8002: "ISO-20 main stream",
    0x8003: "ISO-20 AC",
    0x8004: "ISO-20 DC",
    0x8005: "ISO-20 ACDP",
    0x8006: "ISO-20 WPT",
    0x8101: "ISO-20 schedule renegotiation",
    0x8102: "ISO-20 metering confirmation",
    0x8103: "ISO-20 ACDP system status",
    0x9000: "SDP request",
    0x9001: "SDP response",
}

NAMESPACES = {
    "urn:din:70121:2012:MsgDef": "din",
    "urn:iso:15118:2:2013:MsgDef": "iso2",
    "urn:iso:std:iso:15118:-20:CommonMessages": "iso20",
    "urn:iso:std:iso:15118:-20:DC": "iso20",
}
ND_NAMES = {133: "RS", 134: "RA", 135: "NS", 136: "NA", 128: "echo request", 129: "echo reply"}
MAX_STREAM = 1 << 20          # bytes buffered per TCP direction (a capture may be hostile)


def mac(b):
    return ":".join("%02x" % x for x in b)


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


class _Stream:
    def __init__(self):
        self.next_seq = None
        self.pending = {}
        self.buf = bytearray()
        self.broken = False
        self.start_t = None      # capture time of the segment that brought the buffered message's first byte


class Decoder:
    def __init__(self):
        self.events = []
        self.t0 = None
        self.streams = {}
        self.schema = None       # chosen by the appHandshake
        self.offered = {}        # SchemaID -> schema name, from supportedAppProtocolReq
        self.n = 0

    def _ev(self, t, layer, **kw):
        e = {"t": round(t - self.t0, 6), "frame": self.n, "layer": layer}
        e.update(kw)
        self.events.append(e)
        return e

    def feed(self, t, frame):
        self.n += 1
        if self.t0 is None:
            self.t0 = t
        if len(frame) < 14:
            self._ev(t, "unknown", error="frame of %d bytes" % len(frame))
            return
        et = (frame[12] << 8) | frame[13]
        if et == mme.ETH_P_HPAV:
            self._slac(t, frame)
        elif et == ipv6.ETH_P_IPV6:
            self._ipv6(t, frame)
        else:
            self._ev(t, "unknown", ethertype="0x%04x" % et, src=mac(frame[6:12]), dst=mac(frame[0:6]))

    def _slac(self, t, frame):
        try:
            m = mme.decode(frame)
        except mme.MmeError as e:
            self._ev(t, "slac", src=mac(frame[6:12]), dst=mac(frame[0:6]), error="%s: %s" % (e.kind, e))
            return
        fields = {}
        for k, v in m.items():
            if k in ("type", "dst", "src", "name", "kind", "mmv"):
                continue
            fields[k] = _jsonable(v)
        self._ev(t, "slac", msg=m["name"], kind=m["kind"], src=mac(m["src"]), dst=mac(m["dst"]), **fields)

    def _ipv6(self, t, frame):
        try:
            _smac, src, dst, nh, hop, p = ipv6.parse(frame)
        except ipv6.PacketError as e:
            self._ev(t, "ipv6", error="%s: %s" % (e.kind, e))
            return
        s, d = ipv6.fmt(src), ipv6.fmt(dst)
        if nh == ipv6.NH_ICMPV6:
            if len(p) < 4:
                self._ev(t, "icmpv6", src=s, dst=d, error="short")
                return
            e = self._ev(t, "icmpv6", src=s, dst=d, msg=ND_NAMES.get(p[0], "type %d" % p[0]))
            if p[0] in (135, 136) and len(p) >= 24:
                e["target"] = ipv6.fmt(p[8:24])
            if ipv6.checksum(src, dst, ipv6.NH_ICMPV6, p) != 0:
                e["error"] = "bad checksum"
        elif nh == ipv6.NH_UDP:
            self._udp(t, s, d, src, dst, p)
        elif nh == ipv6.NH_TCP:
            self._tcp(t, s, d, src, dst, p)
        else:
            self._ev(t, "ipv6", src=s, dst=d, next_header=nh)

    def _udp(self, t, s, d, src, dst, p):
        if len(p) < 8:
            self._ev(t, "udp", src=s, dst=d, error="short")
            return
        sport, dport = struct.unpack(">HH", bytes(p[0:4]))
        body = bytes(p[8:])
        if SDP_PORT not in (sport, dport):
            self._ev(t, "udp", src=s, dst=d, sport=sport, dport=dport, length=len(body))
            return
        e = self._ev(t, "sdp", src=s, dst=d, sport=sport, dport=dport)
        if len(body) < 8 or body[0:2] != b"\x01\xfe":
            e["error"] = "not a V2GTP message"
            return
        pt = (body[2] << 8) | body[3]
        pl = body[8:]
        if pt == 0x9000 and len(pl) == 2:
            e.update(msg="SDP request", security="none" if pl[0] == 0x10 else "TLS" if pl[0] == 0 else pl[0],
                     transport="TCP" if pl[1] == 0 else "UDP" if pl[1] == 0x10 else pl[1])
        elif pt == 0x9001 and len(pl) == 20:
            e.update(msg="SDP response", secc_ip=ipv6.fmt(pl[0:16]), secc_port=(pl[16] << 8) | pl[17],
                     security="none" if pl[18] == 0x10 else "TLS" if pl[18] == 0 else pl[18],
                     transport="TCP" if pl[19] == 0 else pl[19])
        else:
            e["error"] = "SDP payload type 0x%04x with %d bytes" % (pt, len(pl))

    def _tcp(self, t, s, d, src, dst, p):
        try:
            seg = tcp.parse(src, dst, p)
        except ipv6.PacketError as e:
            self._ev(t, "tcp", src=s, dst=d, error="%s: %s" % (e.kind, e))
            return
        conn = "[%s]:%d > [%s]:%d" % (s, seg.sport, d, seg.dport)
        key = (src, seg.sport, dst, seg.dport)
        fl = seg.flags
        if fl & tcp.SYN:
            self._ev(t, "tcp", conn=conn, event="SYN-ACK" if fl & tcp.ACK else "SYN", mss=seg.mss)
            st = self.streams[key] = _Stream()
            st.next_seq = (seg.seq + 1) & tcp.MASK
        if fl & tcp.RST:
            self._ev(t, "tcp", conn=conn, event="RST")
        st = self.streams.get(key)
        if seg.data and st is not None and not st.broken:
            self._stream_data(t, st, seg.seq, seg.data, conn)
        if fl & tcp.FIN:
            self._ev(t, "tcp", conn=conn, event="FIN")

    def _stream_data(self, t, st, seq, data, conn):
        if st.next_seq is None:
            return
        st.pending[seq] = data
        progressed = True
        while progressed:
            progressed = False
            for s in list(st.pending):
                off = (st.next_seq - s) & tcp.MASK
                d = st.pending[s]
                if off < len(d) and off < tcp.HALF:
                    if not st.buf:
                        st.start_t = t
                    st.buf.extend(d[off:])
                    st.next_seq = (st.next_seq + len(d) - off) & tcp.MASK
                    del st.pending[s]
                    progressed = True
                elif off >= len(d) and off < tcp.HALF:
                    del st.pending[s]            # retransmission of what we have
        if len(st.buf) > MAX_STREAM or len(st.pending) > 1024:
            st.broken = True
            self._ev(t, "v2gtp", conn=conn, error="stream too large or too many holes; decoding stopped")
            return
        self._v2gtp(t, st, conn)

    def _v2gtp(self, t, st, conn):
        b = st.buf
        while len(b) >= 8:
            if b[0] != 0x01 or b[1] != 0xFE:
                st.broken = True
                self._ev(t, "v2gtp", conn=conn, error="bad V2GTP header %s" % bytes(b[0:4]).hex())
                return
            pt, n = struct.unpack(">HI", bytes(b[2:8]))
            if n > MAX_STREAM:
                st.broken = True
                self._ev(t, "v2gtp", conn=conn, error="V2GTP length %d too large" % n)
                return
            if len(b) < 8 + n:
                return
            body = bytes(b[8:8 + n])
            del b[:8 + n]
            first = st.start_t if st.start_t is not None else t
            st.start_t = t if b else None     # the rest came in the segment just fed
            # "t": the segment that completed the message; "t_first": the one that began it
            e = self._ev(t, "v2gtp", conn=conn, payload_type="0x%04x" % pt,
                         type_name=PAYLOAD_TYPES.get(pt, "manufacturer-specific" if pt >= 0xA000 else "unknown"),
                         length=n, t_first=round(first - self.t0, 6))
            if pt in (0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006):
                self._exi(e, pt, body)

    def _exi(self, e, pt, body):
        if self.schema is None:
            schema = "app"
        elif pt == 0x8004:
            schema = "iso20dc"
        else:
            schema = self.schema
        try:
            msg = jsonform.decode(body, schema)
        except (jsonform.EXIError, RecursionError) as ex:
            if schema != "app":
                e.update(schema=schema, exi_error=str(ex), exi_hex=body.hex())
                return
            try:                                     # capture started after the handshake
                msg = jsonform.decode(body, "din")
                schema = self.schema = "din"
            except (jsonform.EXIError, RecursionError):
                e.update(schema=schema, exi_error=str(ex), exi_hex=body.hex())
                return
        e["schema"] = schema
        e["exi"] = msg
        if schema == "app":
            req = msg.get("supportedAppProtocolReq")
            res = msg.get("supportedAppProtocolRes")
            if req:
                for ap in req.get("AppProtocol", []):
                    self.offered[ap.get("SchemaID")] = NAMESPACES.get(ap.get("ProtocolNamespace"))
            elif res and "SchemaID" in res:
                self.schema = self.offered.get(res["SchemaID"]) or None
                e["session_schema"] = self.schema


def decode_frames(frames):
    d = Decoder()
    for t, f in frames:
        d.feed(t, f)
    return d.events


def summary(e):
    """One human-readable line per event."""
    head = "%9.3f  #%-5d %-7s" % (e["t"], e["frame"], e["layer"].upper())
    rest = {k: v for k, v in e.items() if k not in ("t", "frame", "layer")}
    parts = []
    for k in ("msg", "event", "type_name"):
        if k in rest:
            parts.append(str(rest.pop(k)))
    if "exi" in rest:
        ex = rest.pop("exi")
        parts.append(_exi_name(ex))
    parts += ["%s=%s" % (k, v) for k, v in rest.items()]
    return head + " " + " ".join(parts)


def _exi_name(msg):
    if "V2G_Message" in msg:
        body = msg["V2G_Message"].get("Body", {})
        return next(iter(body), "?")
    return next(iter(msg), "?")
