"""End-to-end link rig: pilot + SLAC + IPv6/TCP, the whole CCS link of the box
(`CcsLink`, firmware) against a car made of the pilot-circuit model
(`DcCar`), the reference PEV `pev` for SLAC and the Linux kernel for IPv6/TCP
on the same car interface, through emulated modems that carry IP only once
both sides hold the same NMK (after SLAC):

    ns ev:  pev0  (pev + kernel IPv6)        -- veth --  ns plc: [modem ev] ==line== [modem evse]
    ns box: plc0  (CcsLink over AF_PACKET)   -- veth --/

The box loop (pilot sampling from the car model, CcsLink.step, the modems)
runs in one thread on wall-clock ms; the test drives the car (plug, B/C) and
the kernel sockets from its own thread.
"""
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time

from firmware.protocols.ccs.link import CcsLink
from hil.ccs import netns
from hil.ccs import slac_interop as si
from hil.ccs.cp_car import DcCar
from hil.ccs.modem import LocalModem, PlcLine
from hil.ccs.rawlink import RawLink
from hil.ccs.tcp_interop import KernelPeer, wait_link_local

PEV_PROFILE_CHARGING = si.PEV_PROFILE.replace("charge time = 0", "charge time = 12")


class E2eRig:
    def __init__(self, topo):
        self.topo = topo
        self.ns_ev, self.ns_plc, self.ns_box = topo.netns("ev"), topo.netns("plc"), topo.netns("box")
        topo.veth(self.ns_ev, "pev0", self.ns_plc, "pevm0", mac_a=si.PEV_MAC, ipv6_a=True)
        topo.veth(self.ns_box, "plc0", self.ns_plc, "evsem0", mac_a=si.EVSE_MAC)
        netns.sh("sysctl", "-q", "-w", "net.ipv6.conf.pev0.accept_dad=0", ns=self.ns_ev)
        for ifn in ("pevm0", "evsem0"):
            netns.sh("ip", "link", "set", ifn, "promisc", "on", ns=self.ns_plc)
        self.ev_modem = LocalModem("ev", self.ns_plc, "pevm0", si.PVM_MAC)
        self.evse_modem = LocalModem("evse", self.ns_plc, "evsem0", si.EVM_MAC)
        self.line = PlcLine(self.ev_modem, self.evse_modem)
        self.box_link = RawLink(self.ns_box, "plc0")
        self.link = CcsLink(self.box_link, si.EVSE_MAC, os.urandom)
        self.car = DcCar(seed=5, noise_mv=200)
        self.events = []
        self.pev = None
        self.pev_out = ""
        self._tmp = tempfile.mkdtemp(prefix="v2x-e2e-")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="box-e2e", daemon=True)
        wait_link_local(self.ns_ev, "pev0")
        self.peer = KernelPeer(self.ns_ev, "pev0")

    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        try:
            while not self._stop.is_set():
                now = self.now_ms()
                with self._lock:
                    hi, lo = self.car.plateaus(*self.link.cp.request())
                    for e in self.link.step(now, hi, lo):
                        self.events.append((now, e))
                        self._app(e)
                    if self.pev is None and self.link.cp.request()[0]:
                        self._start_pev()        # the car starts SLAC when it sees 5 %
                nt = self.link.next_timer()
                wait = 0.01 if nt is None else max(0.0, min(0.01, (nt - self.now_ms()) / 1000.0))
                r, _w, _x = select.select([self.box_link] + self.line.modems, [], [], wait)
                for m in self.line.modems:
                    if m in r:
                        m.pump()
        except Exception as e:  # surfaced by stop()
            self.error = e

    def _app(self, e):
        """A minimal SECC on the transport: SDP answer + echo of V2GTP messages."""
        t = self.link.transport
        if e[0] == "sdp" and len(e[2]) == 10 and e[2][2:4] == b"\x90\x00":
            ip, port = t.local_endpoint()
            t.send_sdp(e[1], b"\x01\xfe\x90\x01\x00\x00\x00\x14" + ip + bytes((port >> 8, port & 0xFF, 0x10, 0)))
        elif e[0] == "data":
            t.send(e[1], e[2])

    def _start_pev(self):
        prof = os.path.join(self._tmp, "pev.ini")
        with open(prof, "w") as f:
            f.write(PEV_PROFILE_CHARGING)
        self.pev = subprocess.Popen(["ip", "netns", "exec", self.ns_ev, si.pev_path(), "-i", "pev0", "-p", prof],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def car_do(self, fn):
        with self._lock:
            fn(self.car)

    def wait_event(self, pred, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                for t, e in self.events:
                    if pred(e):
                        return t, e
            if self.error is not None:
                raise self.error
            time.sleep(0.01)
        raise AssertionError("event not seen in %.1f s; events: %r" % (timeout, [e for _t, e in self.events][-15:]))

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)
        if self.pev is not None:
            if self.pev.poll() is None:
                self.pev.kill()
            try:
                self.pev_out = self.pev.communicate(timeout=5)[0] or ""
            except subprocess.TimeoutExpired:
                pass
        self.box_link.close()
        self.line.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self.error is not None:
            raise self.error
