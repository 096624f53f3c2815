"""SECC Discovery Protocol (SDP): codec and server logic. Sans-IO, MicroPython-compatible.

The EV multicasts an SDP request to ff02::1, UDP port 15118, hop limit 1; the
SECC answers (unicast, to the request's source) with its own link-local
address and TCP port (reference sheet §4; ISO 15118-2 §7.10.1, DIN SPEC 70121
§8.7.3). Each datagram is a V2GTP message (v2gtp.py):

    request   type 0x9000, 2 bytes:  security, transport protocol
    response  type 0x9001, 20 bytes: SECC IPv6 address (16), TCP port (2, BE),
                                     security (1), transport protocol (1)

    security   0x00 = TLS,  0x10 = no TLS
    transport  0x00 = TCP,  0x10 = UDP

Server rules:
  * a request whose transport is not TCP is not answered (V2G over UDP does
    not exist; the EV retries, then gives up);
  * the security answered is the EV's wish when the SECC offers it, else the
    one the SECC has (an EV that requires TLS then decides; ISO 15118-2 §7.10.1);
  * a malformed datagram (bad V2GTP header, wrong type, wrong length) is dropped
    and counted; it never raises out of `handle`.
"""
from micropython import const

from firmware.protocols.ccs import v2gtp

UDP_PORT = const(15118)
MULTICAST_ADDR = b"\xff\x02" + bytes(13) + b"\x01"   # ff02::1

SECURITY_TLS = const(0x00)
SECURITY_NONE = const(0x10)
TRANSPORT_TCP = const(0x00)
TRANSPORT_UDP = const(0x10)

REQUEST_LEN = const(2)
RESPONSE_LEN = const(20)


class SDPError(ValueError):
    pass


def _check_byte(v, what):
    if v not in (0x00, 0x10):
        raise SDPError("%s byte 0x%02x (0x00 or 0x10 expected)" % (what, v))


def encode_request(security=SECURITY_NONE, transport=TRANSPORT_TCP):
    _check_byte(security, "security")
    _check_byte(transport, "transport")
    return v2gtp.frame(v2gtp.SDP_REQUEST, bytes((security, transport)))


def decode_request(datagram):
    """-> (security, transport). Raises SDPError / V2GTPError."""
    ptype, p = v2gtp.unframe(datagram, 64)
    if ptype != v2gtp.SDP_REQUEST:
        raise SDPError("not an SDP request (payload type 0x%04x)" % ptype)
    if len(p) != REQUEST_LEN:
        raise SDPError("SDP request payload of %d bytes (2 expected)" % len(p))
    _check_byte(p[0], "security")
    _check_byte(p[1], "transport")
    return p[0], p[1]


def encode_response(addr16, port, security=SECURITY_NONE, transport=TRANSPORT_TCP):
    if len(addr16) != 16:
        raise SDPError("SECC address must be 16 bytes")
    if not 0 < port <= 0xFFFF:
        raise SDPError("TCP port out of range")
    _check_byte(security, "security")
    _check_byte(transport, "transport")
    return v2gtp.frame(v2gtp.SDP_RESPONSE,
                       bytes(addr16) + bytes((port >> 8, port & 0xFF, security, transport)))


def decode_response(datagram):
    """-> (addr16, port, security, transport). Raises SDPError / V2GTPError."""
    ptype, p = v2gtp.unframe(datagram, 64)
    if ptype != v2gtp.SDP_RESPONSE:
        raise SDPError("not an SDP response (payload type 0x%04x)" % ptype)
    if len(p) != RESPONSE_LEN:
        raise SDPError("SDP response payload of %d bytes (20 expected)" % len(p))
    _check_byte(p[18], "security")
    _check_byte(p[19], "transport")
    return bytes(p[:16]), (p[16] << 8) | p[17], p[18], p[19]


class SdpServer:
    """Answers SDP requests with the SECC's endpoint.

        srv = SdpServer(addr16, tcp_port, tls_port=None)
        reply = srv.handle(datagram)   # bytes to send back to the source, or None

    `tls_port`: TCP port of a TLS listener, if the SECC has one; then a request
    for TLS is answered with it and security 0x00.
    """

    def __init__(self, addr16, tcp_port, tls_port=None):
        self.addr16 = bytes(addr16)
        self.tcp_port = tcp_port
        self.tls_port = tls_port
        self.requests = 0
        self.answered = 0
        self.dropped = 0
        self.last_error = None

    def handle(self, datagram):
        self.requests += 1
        try:
            security, transport = decode_request(datagram)
        except ValueError as e:   # SDPError and V2GTPError
            self.dropped += 1
            self.last_error = str(e)
            return None
        if transport != TRANSPORT_TCP:
            self.dropped += 1
            self.last_error = "SDP request for UDP transport"
            return None
        self.answered += 1
        if security == SECURITY_TLS and self.tls_port is not None:
            return encode_response(self.addr16, self.tls_port, SECURITY_TLS, TRANSPORT_TCP)
        return encode_response(self.addr16, self.tcp_port, SECURITY_NONE, TRANSPORT_TCP)
