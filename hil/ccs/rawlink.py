"""AF_PACKET edge: raw Ethernet frames on one interface (inside a namespace).

The FrameLink itself is host_tools/secc/raw.PacketLink (the edge `v2xbox secc
--transport raw` uses); here it is opened inside one of the rig's network namespaces,
so a sans-IO core runs over a real Linux interface exactly as over the modem's SPI on
the board. Frames this socket itself sent (PACKET_OUTGOING copies) are not handed
back. An optional recorder sees every frame in both directions (for pcap captures).
"""
import socket

from hil.ccs import netns
from host_tools.secc.raw import PacketLink


class RawLink(PacketLink):
    def __init__(self, ns, ifname, recorder=None):
        super().__init__(ifname, recorder=recorder, sock=netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, 0))
