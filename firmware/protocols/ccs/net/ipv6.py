"""IPv6 basics for the box's own stack: addresses, the Internet checksum,
Ethernet + IPv6 header build/parse. Sans-IO helpers, no state.

Facts: RFC 8200 (IPv6 header, extension header chain), RFC 4291 (link-local
interface ID from a MAC = modified EUI-64; solicited-node multicast
ff02::1:ffXX:XXXX), RFC 2464 (IPv6 multicast -> Ethernet 33:33 + low 32 bits).
"""
from micropython import const

ETH_P_IPV6 = const(0x86DD)
ETH_HDR = const(14)
IP6_HDR = const(40)

NH_HOPOPT = const(0)
NH_TCP = const(6)
NH_UDP = const(17)
NH_ROUTING = const(43)
NH_FRAGMENT = const(44)
NH_ICMPV6 = const(58)
NH_NONE = const(59)
NH_DSTOPTS = const(60)

ALL_NODES = b"\xff\x02" + bytes(13) + b"\x01"
UNSPECIFIED = bytes(16)


class PacketError(ValueError):
    """A malformed packet; `kind` is the counter to increment."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


def link_local_from_mac(mac):
    """fe80::/64 + modified EUI-64 (U/L bit flipped, ff:fe in the middle)."""
    return (b"\xfe\x80" + bytes(6) + bytes((mac[0] ^ 0x02, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5])))


def solicited_node(addr):
    return b"\xff\x02" + bytes(9) + b"\x01\xff" + bytes(addr[13:16])


def multicast_mac(addr):
    return b"\x33\x33" + bytes(addr[12:16])


def is_multicast(addr):
    return addr[0] == 0xFF


def is_link_local(addr):
    return addr[0] == 0xFE and (addr[1] & 0xC0) == 0x80


def checksum(src, dst, nh, data):
    """Internet checksum over the IPv6 pseudo-header + upper-layer data."""
    n = len(data)
    s = nh + n
    for a in (src, dst):
        for i in range(0, 16, 2):
            s += (a[i] << 8) | a[i + 1]
    end = n - (n & 1)
    for i in range(0, end, 2):
        s += (data[i] << 8) | data[i + 1]
    if n & 1:
        s += data[n - 1] << 8
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(dst_mac, src_mac, src, dst, nh, payload, hop_limit=64):
    """Ethernet + IPv6 + upper-layer payload (checksum already in payload)."""
    n = len(payload)
    b = bytearray(ETH_HDR + IP6_HDR + n)
    b[0:6] = dst_mac
    b[6:12] = src_mac
    b[12] = 0x86
    b[13] = 0xDD
    b[14] = 0x60
    b[18] = n >> 8
    b[19] = n & 0xFF
    b[20] = nh
    b[21] = hop_limit
    b[22:38] = src
    b[38:54] = dst
    b[54:] = payload
    return b


def with_checksum(src, dst, nh, payload, at):
    """Fill the 16-bit checksum field at offset `at` of payload (bytearray)."""
    payload[at] = 0
    payload[at + 1] = 0
    c = checksum(src, dst, nh, payload)
    if nh == NH_UDP and c == 0:
        c = 0xFFFF
    payload[at] = c >> 8
    payload[at + 1] = c & 0xFF
    return payload


def parse(frame_bytes, max_ext=4):
    """(src_mac, src, dst, nh, hop_limit, upper_payload memoryview) or PacketError.
    Skips hop-by-hop / destination-options / routing headers; fragments are
    refused (V2G never needs them: the MSS keeps segments inside one frame)."""
    f = memoryview(frame_bytes)
    if len(f) < ETH_HDR + IP6_HDR:
        raise PacketError("short", "IPv6 frame of %d bytes" % len(f))
    if f[14] >> 4 != 6:
        raise PacketError("version", "IP version %d" % (f[14] >> 4))
    plen = (f[18] << 8) | f[19]
    if ETH_HDR + IP6_HDR + plen > len(f):
        raise PacketError("short", "payload length %d beyond the frame" % plen)
    nh = f[20]
    hop = f[21]
    src = bytes(f[22:38])
    dst = bytes(f[38:54])
    p = f[ETH_HDR + IP6_HDR:ETH_HDR + IP6_HDR + plen]  # Ethernet padding cut off
    n = 0
    while nh in (NH_HOPOPT, NH_DSTOPTS, NH_ROUTING):
        n += 1
        if n > max_ext or len(p) < 8:
            raise PacketError("ext", "extension header chain too long or truncated")
        ln = (p[1] + 1) * 8
        if ln > len(p):
            raise PacketError("ext", "extension header beyond the packet")
        nh = p[0]
        p = p[ln:]
    if nh == NH_FRAGMENT:
        raise PacketError("fragment", "fragmented IPv6 packet")
    return bytes(f[6:12]), src, dst, nh, hop, p


def fmt(addr):
    """Compact text form (for logs and the decoder)."""
    words = [(addr[i] << 8) | addr[i + 1] for i in range(0, 16, 2)]
    best, blen, i = -1, 0, 0
    while i < 8:
        if words[i] == 0:
            j = i
            while j < 8 and words[j] == 0:
                j += 1
            if j - i > blen and j - i > 1:
                best, blen = i, j - i
            i = j
        else:
            i += 1
    parts = ["%x" % w for w in words]
    if best < 0:
        return ":".join(parts)
    return ":".join(parts[:best]) + "::" + ":".join(parts[best + blen:])
