"""SupportedAppProtocol negotiation (SECC side). Sans-IO, MicroPython-compatible.

The first EXI message on the TCP connection is supportedAppProtocolReq
(namespace urn:iso:15118:2:2010:AppProtocol, V2GTP type 0x8001): the EV lists
up to 20 AppProtocol entries (namespace, major/minor version, SchemaID,
Priority 1 = most preferred). The SECC answers with one SchemaID and
OK_SuccessfulNegotiation, OK_SuccessfulNegotiationWithMinorDeviation (same
major version, other minor) or Failed_NoNegotiation (ISO 15118-2 §8.2 and
annex; DIN SPEC 70121 §8.4.2 uses the same handshake).

Choice: the box's own order of protocols (`order`, configurable) wins over the
EV's priorities by default, because discharging non-bidirectional cars is
proven only over DIN (reference sheet §9). `ev_priority=True` picks the EV's
most preferred among those the box supports instead. Namespaces the box does
not implement are never chosen: Tesla offers urn:tesla:din:2018:MsgDef at
priority 1 and DIN at 2, and selecting the Tesla namespace leads to silence
(pyPLC issue #31).
"""
from micropython import const

# protocol name -> (namespace, major version, minor version the box implements)
PROTOCOLS = {
    "din": ("urn:din:70121:2012:MsgDef", 2, 0),
    "iso2": ("urn:iso:15118:2:2013:MsgDef", 2, 0),
    "iso20dc": ("urn:iso:std:iso:15118:-20:DC", 1, 0),
}
TESLA_NAMESPACE = "urn:tesla:din:2018:MsgDef"
DEFAULT_ORDER = ("din", "iso2", "iso20dc")

OK = "OK_SuccessfulNegotiation"
OK_MINOR = "OK_SuccessfulNegotiationWithMinorDeviation"
FAILED = "Failed_NoNegotiation"

MAX_ENTRIES = const(20)   # AppProtocol maxOccurs in V2G_CI_AppProtocol.xsd


def select(req, order=DEFAULT_ORDER, ev_priority=False):
    """supportedAppProtocolReq content -> (response dict, protocol name or None, offered list).

    `offered` is the EV's namespaces in its priority order (for car recognition and logs).
    """
    entries = req.get("AppProtocol") or []
    if not isinstance(entries, list):
        entries = [entries]
    offered = []
    best = None      # (rank, proto, schema id, response code)
    for e in entries[:MAX_ENTRIES]:
        ns = e.get("ProtocolNamespace")
        offered.append((e.get("Priority", 99), ns))
        for rank in range(len(order)):
            name = order[rank]
            p = PROTOCOLS.get(name)
            if p is None or p[0] != ns or e.get("VersionNumberMajor") != p[1]:
                continue
            code = OK if e.get("VersionNumberMinor") == p[2] else OK_MINOR
            key = e.get("Priority", 99) if ev_priority else rank
            if best is None or key < best[0]:
                best = (key, name, e.get("SchemaID"), code)
    offered.sort()
    names = [ns for _p, ns in offered]
    if best is None:
        return {"supportedAppProtocolRes": {"ResponseCode": FAILED}}, None, names
    return ({"supportedAppProtocolRes": {"ResponseCode": best[3], "SchemaID": best[2]}}, best[1], names)
