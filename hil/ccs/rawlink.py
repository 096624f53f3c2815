"""AF_PACKET edge: raw Ethernet frames on one interface (inside a namespace).

Implements the firmware's FrameLink contract (send/recv, non-blocking) so a
sans-IO core runs over a real Linux interface exactly as over the modem's
SPI on the board. Frames this socket itself sent (PACKET_OUTGOING copies)
are not handed back. An optional recorder sees every frame in both
directions (for pcap captures of the tests).
"""
import socket
import time

from firmware.hal import interface as hi
from hil.ccs import netns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class RawLink(hi.FrameLink):
    def __init__(self, ns, ifname, recorder=None):
        self.ifname = ifname
        self.sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setblocking(False)
        self.mac = self.sock.getsockname()[4][:6]
        self.recorder = recorder
        self.sent = 0
        self.received = 0

    def fileno(self):
        return self.sock.fileno()

    def send(self, frame):
        try:
            self.sock.send(frame)
        except OSError:
            return False   # e.g. link down (the test cut it): the frame is lost, as on a cable
        self.sent += 1
        if self.recorder is not None:
            self.recorder(time.time(), bytes(frame))
        return True

    def recv(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                return None
            if addr[2] == PACKET_OUTGOING:
                continue
            self.received += 1
            if self.recorder is not None:
                self.recorder(time.time(), data)
            return data

    def close(self):
        self.sock.close()
