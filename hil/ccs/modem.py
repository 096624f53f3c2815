"""Emulated HomePlug Green PHY modems and the powerline between them.

A real SLAC setup is host <-Ethernet/SPI-> own modem <-powerline-> car's
modem <-> car's host. Each `LocalModem` here sits on the modem end of a
veth pair whose other end the host uses (AF_PACKET), and the `PlcLine`
carries frames between the modems in-process:

- CM_SET_KEY.REQ addressed to the modem (Qualcomm local-cast 00:B0:52:00:00:01
  or the modem's own MAC) sets its NMK/NID and is answered with
  CM_SET_KEY.CNF (RESULT 1, as Qualcomm modems answer; the reference PEV
  treats 0 as failure); it never reaches the line.
- Other management frames to the modem itself (vendor MMEs) are swallowed.
- SLAC MMEs (0x88E1) cross the line whatever the keys (association
  messages travel before the AVLN exists).
- Data frames (IPv6 etc.) cross only between modems holding the same NMK
  (the same AVLN): IP works only after SLAC and both SET_KEYs.
- For each CM_MNBC_SOUND.IND delivered to its host, a modem with
  `atten_profile` set also sends CM_ATTEN_PROFILE.IND (QCA7000 behaviour);
  with None it sends none (AR7420 behaviour: the EVSE must synthesise).

`Modem` is that behaviour without I/O (frames to its host go to a callable),
so the simulated-time rigs (hil/ccs/ev_net.py) use the same modems and the
same AVLN rule (`PlcLine.passes`) as the namespace rigs.
"""
import select

from firmware.protocols.ccs.slac import mme
from hil.ccs.rawlink import RawLink


class Modem:
    """A Green PHY modem's behaviour, I/O-free: `from_host(frame)` for frames
    its host sends, `to_host(frame)` for frames off the line; frames for the
    host go to `host_send(frame)`."""

    def __init__(self, name, mac, host_send, atten_profile=None):
        self.name = name
        self.host_send = host_send
        self.mac = bytes(mac)
        self.atten_profile = atten_profile
        self.nmk = None
        self.nid = None
        self.keys_set = []        # (nid, nmk) in order, for the tests
        self.host_mac = None
        self.line = None
        self.vendor_swallowed = 0
        self.profiles_sent = 0

    def same_avln(self, other):
        return self.nmk is not None and self.nmk == other.nmk and self.nid == other.nid

    def from_host(self, frame):
        if len(frame) < 14:
            return
        self.host_mac = frame[6:12]
        dst = frame[0:6]
        if frame[12:14] == b"\x88\xe1" and dst in (mme.MODEM_LOCAL, self.mac):
            try:
                _d, _s, _mmv, mmtype, _off = mme.header(frame)
            except mme.MmeError:
                return
            if mmtype == mme.CM_SET_KEY | mme.REQ:
                m = mme.decode(frame)
                self.nid, self.nmk = m["nid"], m["new_key"]
                self.keys_set.append((self.nid, self.nmk))
                self.host_send(mme.set_key_cnf(frame[6:12], self.mac, result=1))
            else:
                self.vendor_swallowed += 1
            return
        if self.line is not None:
            self.line.carry(self, frame)

    def to_host(self, frame):
        self.host_send(frame)
        if self.atten_profile is not None and frame[12:14] == b"\x88\xe1" and self.host_mac is not None:
            try:
                _d, _s, _mmv, mmtype, _off = mme.header(frame)
            except mme.MmeError:
                return
            if mmtype == mme.CM_MNBC_SOUND | mme.IND:
                self.host_send(mme.atten_profile_ind(self.host_mac, self.mac, frame[6:12], self.atten_profile))
                self.profiles_sent += 1


class LocalModem(Modem):
    """A Modem on the modem end of a veth pair (AF_PACKET)."""

    def __init__(self, name, ns, ifname, mac, atten_profile=None):
        self.link = RawLink(ns, ifname)
        Modem.__init__(self, name, mac, self.link.send, atten_profile)

    def fileno(self):
        return self.link.fileno()

    def pump(self):
        while True:
            f = self.link.recv()
            if f is None:
                return
            self.from_host(f)

    def close(self):
        self.link.close()


class PlcLine:
    """The powerline: every frame one modem puts on it reaches the others
    (unicast filtering is the hosts' job, as on a shared medium)."""

    def __init__(self, *modems):
        self.modems = list(modems)
        self.carried = 0
        self.blocked = 0
        self.up = True
        for m in modems:
            m.line = self

    def carry(self, src, frame):
        if not self.up:
            self.blocked += 1
            return
        for m in self.modems:
            if m is src:
                continue
            if not self.passes(src, m, frame):
                self.blocked += 1
                continue
            self.carried += 1
            self.deliver(m, frame)

    def deliver(self, modem, frame):
        modem.to_host(frame)

    @staticmethod
    def passes(src, dst, frame):
        """SLAC MMEs cross whatever the keys; data only inside one AVLN."""
        return frame[12:14] == b"\x88\xe1" or src.same_avln(dst)

    def fds(self):
        return [m.fileno() for m in self.modems]

    def pump(self, timeout=0.0):
        r, _w, _x = select.select(self.modems, [], [], timeout)
        for m in r:
            m.pump()

    def close(self):
        for m in self.modems:
            m.close()
