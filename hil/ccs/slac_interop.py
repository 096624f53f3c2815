"""SLAC interop rig: the firmware's EVSE core against the reference PEV.

Topology (all in namespaces created here, removed afterwards):

    ns ev:   pev0  (`pev` from plc-utils-extra, the reference PEV-HLE)
               |  veth
    ns plc:  pevm0 [LocalModem "ev"] ==PlcLine== [LocalModem "evse"] evsem0
                                                                       |  veth
    ns evse: plc0  (SlacEvse core, CPython, over an AF_PACKET socket)

`pev` first sets its key in its own modem (CM_SET_KEY to 00:B0:52:00:00:01)
and waits for the confirmation; the emulated modems answer that. The EVSE
core runs on wall-clock milliseconds here (the edge's clock); the per-frame
log keeps both the wall time and the order of events.
"""
import os
import select
import shutil
import subprocess
import tempfile
import time

from firmware.protocols.ccs.slac import evse as slac_evse
from firmware.protocols.ccs.slac import mme
from hil.ccs import netns
from hil.ccs.modem import LocalModem, PlcLine
from hil.ccs.rawlink import RawLink

PEV_MAC = bytes.fromhex("02ee00000001")
EVSE_MAC = bytes.fromhex("02e5e0000001")
EVM_MAC = bytes.fromhex("00b052e50001")   # EVSE-side modem
PVM_MAC = bytes.fromhex("00b052ee0001")   # PEV-side modem

PEV_PROFILE = """[default]
vehicle identifier = 5632584244454D4F4341523030303030
network membership key = 50D3E4933F855B7040784DF815AA8DB7
network identifier = B0F2E695666B03
attenuation threshold = 40
msound pause = 20
charge time = 0
settle time = 0
"""


class PevNotInstalled(RuntimeError):
    pass


def pev_path():
    p = shutil.which("pev")
    if p is None:
        raise PevNotInstalled("`pev` (Debian package plc-utils-extra) is missing: run `make setup`")
    return p


class Result:
    def __init__(self):
        self.pev_rc = None
        self.pev_out = ""
        self.events = []          # (t_ms, event tuple) from the EVSE core
        self.frames = []          # (t_s, direction, frame) at the EVSE host
        self.parm_ms = None       # wall ms when CM_SLAC_PARM.REQ reached the EVSE
        self.match_ms = None      # wall ms when CM_SLAC_MATCH.CNF left the EVSE
        self.core = None
        self.ev_modem_keys = []
        self.evse_modem_keys = []
        self.profiles_sent = 0

    @property
    def matched(self):
        return any(e[1][0] == "matched" for e in self.events)


def run_pev_match(atten_profile=None, timeout_s=30.0, rng=os.urandom, pev_args=(), core_kwargs=None,
                  tamper=None):
    """One reference-PEV session against the EVSE core. `tamper(frame)` may
    rewrite or drop (return None) frames the EVSE sends (fault injection)."""
    pev = pev_path()
    res = Result()
    tmp = tempfile.mkdtemp(prefix="v2x-pev-")
    prof = os.path.join(tmp, "pev.ini")
    with open(prof, "w") as f:
        f.write(PEV_PROFILE)
    proc = None
    with netns.topology() as topo:
        ns_ev, ns_plc, ns_evse = topo.netns("ev"), topo.netns("plc"), topo.netns("se")
        topo.veth(ns_ev, "pev0", ns_plc, "pevm0", mac_a=PEV_MAC)
        topo.veth(ns_evse, "plc0", ns_plc, "evsem0", mac_a=EVSE_MAC)
        for ifn in ("pevm0", "evsem0"):
            netns.sh("ip", "link", "set", ifn, "promisc", "on", ns=ns_plc)
        ev_modem = LocalModem("ev", ns_plc, "pevm0", PVM_MAC)
        evse_modem = LocalModem("evse", ns_plc, "evsem0", EVM_MAC, atten_profile=atten_profile)
        line = PlcLine(ev_modem, evse_modem)
        link = RawLink(ns_evse, "plc0", recorder=lambda t, f: res.frames.append((t, f)))
        t0 = time.monotonic()

        def now_ms():
            return int((time.monotonic() - t0) * 1000)

        core = slac_evse.SlacEvse(EVSE_MAC, rng, **(core_kwargs or {}))
        res.core = core
        core.start(now_ms())
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", ns_ev, pev, "-i", "pev0", "-p", prof, "-x"]
                                    + list(pev_args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for fr in core.to_send(now_ms()):
                    if tamper is not None:
                        fr = tamper(fr)
                        if fr is None:
                            continue
                    if fr[15:17] == bytes(((mme.CM_SLAC_MATCH | mme.CNF) & 0xFF, (mme.CM_SLAC_MATCH | mme.CNF) >> 8)):
                        res.match_ms = now_ms()
                    link.send(fr)
                for ev in core.events():
                    res.events.append((now_ms(), ev))
                if proc.poll() is not None:
                    break
                nt = core.next_timer()
                wait = 0.05 if nt is None else max(0.0, min(0.05, (nt - now_ms()) / 1000.0))
                r, _w, _x = select.select([link] + line.modems, [], [], wait)
                for m in line.modems:
                    if m in r:
                        m.pump()
                if link in r:
                    while True:
                        fr = link.recv()
                        if fr is None:
                            break
                        if res.parm_ms is None and fr[12:14] == b"\x88\xe1" and fr[15:17] == b"\x64\x60":
                            res.parm_ms = now_ms()
                        core.receive(fr, now_ms())
                nt = core.next_timer()
                if nt is not None and now_ms() >= nt:
                    core.handle_timer(now_ms())
            for ev in core.events():
                res.events.append((now_ms(), ev))
        finally:
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                try:
                    out, _ = proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    out = ""
                res.pev_out = out or ""
                res.pev_rc = proc.returncode
            link.close()
            line.close()
            res.ev_modem_keys = list(ev_modem.keys_set)
            res.evse_modem_keys = list(evse_modem.keys_set)
            res.profiles_sent = evse_modem.profiles_sent
            shutil.rmtree(tmp, ignore_errors=True)
    return res
