"""The box as the UDS server sees it (`uds.Target`), and the boot-time
self-test that confirms a trial image.

Composition (firmware/app/box.py):

    cfg = DiagConfig(serial, device_key, slots, version)   # board: provisioned; sim: hil/simbox
    app = BoxApp(hal, discharge=..., diag=cfg)

With the discharge path on, DTCs and configuration are the SafetyApp's;
without it (the service skeleton) the box mounts the same flash partitions
itself. `busy()` is the safety veto: any session state between plug-in
handshake and the end of the DC-link discharge counts as discharging.
"""
import struct

from micropython import const

from firmware.diag import image as I
from firmware.diag import uds
from firmware.diag.link import REQ_ID, RSP_ID, DiagLink
from firmware.safety import dtc as D
from firmware.charging import table as T

SELFTEST_DELAY_MS = const(2000)
_TX_BATCH = const(8)       # the application runs this long before it may confirm
_IDLE_STATES = (T.IDLE, T.PLUGGED, T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)
# modules a payload must carry to be an application image of this box
REQUIRED_MODULES = ("firmware/main.mpy", "firmware/app/box.mpy", "firmware/diag/uds.mpy",
                    "firmware/diag/slots.mpy", "firmware/safety/supervisor.mpy")

SELFTEST_OK = const(0)
SELFTEST_CONFIG = const(1)
SELFTEST_DTC = const(2)
SELFTEST_IMAGE = const(3)
SELFTEST_LOCKOUT = const(4)


class DiagConfig:
    def __init__(self, serial, device_key, slots=None, version=None, random=None, fd=False):
        self.config = None      # set by the app when no SafetyApp owns them
        self.dtc = None
        self.serial = serial
        self.device_key = device_key
        self.slots = slots
        self.version = version
        self.random = random
        self.fd = fd


def _default_random(n):
    import os
    return os.urandom(n)


class BoxTarget(uds.Target):
    def __init__(self, app, cfg):
        self.app = app
        self.serial = cfg.serial
        self.device_key = cfg.device_key
        self.slots = cfg.slots
        self._random = cfg.random or _default_random
        self.version = cfg.version or 0
        p = app.power
        if p is not None:
            self.dtc = p.safety.dtc
            self.config = p.safety.config
        else:
            self.dtc = cfg.dtc           # the skeleton mounts them itself (firmware/app/box.py)
            self.config = cfg.config
        self.supported_dtcs = tuple(D.FAULT_DTC) + (D.DTC_EMERGENCY_OPEN, D.DTC_SESSION_FAIL)
        self._saved_tx = None
        self.dtc_enabled = True
        self.confirmed_at_boot = False
        self.selftest_code = -1

    # ------------------------------------------------------------ veto and state
    def session_state(self):
        p = self.app.power
        return T.IDLE if p is None else p.state

    def busy(self):
        return self.session_state() not in _IDLE_STATES

    def random(self, n):
        return self._random(n)

    def set_config(self, key, value):
        p = self.app.power
        if p is not None:
            return p.safety.set_config(key, value)
        return self.config.set(key, value, self.busy())

    def live(self):
        """DID 0x0100: session state u8, busy u8, supervisor faults u32,
        v_inlet u16 0.1 V, v_link u16 0.1 V, i_dc i16 0.1 A, soc u8 (0xFF unknown)."""
        p = self.app.power
        if p is None:
            return struct.pack(">BBIHHhB", T.IDLE, 0, 0, 0, 0, 0, 0xFF)
        s = p.safety
        m = s.m
        soc = m.veh_soc if 0 <= m.veh_soc <= 100 else 0xFF
        return struct.pack(">BBIHHhB", p.state, 1 if self.busy() else 0, s.sup.faults & 0xFFFFFFFF,
                           int(max(0, min(6553.5, m.v_inlet)) * 10), int(max(0, min(6553.5, m.v_link)) * 10),
                           int(max(-3276.8, min(3276.7, m.i_dc)) * 10), soc)

    def reset(self, kind):
        self.app.reset_requested = kind

    def comm_control(self, rx_on, tx_on):
        """CommunicationControl: the service CAN's cyclic frames stop/restart
        (diagnostic responses always go out)."""
        node = self.app.service
        if not tx_on and self._saved_tx is None:
            self._saved_tx = [(fid, node.tx_enabled(fid)) for fid in node._tx_id]
            for fid, _on in self._saved_tx:
                node.set_tx_enabled(fid, False)
        elif tx_on and self._saved_tx is not None:
            now = self.app.hal.clock.now_ms()
            for fid, on in self._saved_tx:
                node.set_tx_enabled(fid, on, now)
            self._saved_tx = None
        self.app.service_rx_on = rx_on

    def dtc_setting(self, on):
        # ControlDTCSetting off: recorded by the server (DID 0xF186 session shows
        # the extended session). Safety-fault DTCs are still stored: a fault the
        # supervisor acted on is never hidden from the log.
        self.dtc_enabled = on

    # ------------------------------------------------------------ images
    def payload_ok(self, slot, h):
        s = self.slots
        base = I.HEADER_SIZE

        def rd(off, n):
            return s.read(slot, base + off, n)

        idx = I.payload_index(rd, h.size)
        if idx is None:
            return False
        names = [e[0] for e in idx]
        for need in REQUIRED_MODULES:
            if need not in names:
                return False
        return True

    def self_test(self):
        """Config readable and valid, DTC journal mounted, the running image's
        payload complete, no lockout latched."""
        yield None
        c = self.config
        if c is None or c._check(c.soc_floor_pct, c.max_power_w, c.profile, c.mode) is not None:
            yield (False, SELFTEST_CONFIG)
            return
        yield None
        if self.dtc is None or self.dtc.j is None or self.dtc.j.active < 0:
            yield (False, SELFTEST_DTC)
            return
        s = self.slots
        if s is not None and s.running != uds.NONE_SLOT:
            res, h = s.header(s.running)
            if res != I.OK or not self.payload_ok(s.running, h):
                yield (False, SELFTEST_IMAGE)
                return
        yield None
        if self.session_state() == T.LOCKOUT:
            yield (False, SELFTEST_LOCKOUT)
            return
        yield (True, SELFTEST_OK)

    def boot_selftest(self, now):
        """Run once SELFTEST_DELAY_MS after boot: a trial image that passes is confirmed."""
        r = None
        for x in self.self_test():
            if x is not None:
                r = x
        ok, code = r if r is not None else (False, 0xFE)
        self.selftest_code = code
        s = self.slots
        if ok and s is not None and s.state.trial != uds.NONE_SLOT and s.running == s.state.trial:
            self.confirmed_at_boot = s.confirm()
        return ok


class Diag:
    """The diagnostic task of the box: frames on REQ_ID in, RSP_ID out."""

    def __init__(self, app, cfg, now):
        self.app = app
        self.target = BoxTarget(app, cfg)
        self.link = DiagLink(self.target, now, fd=cfg.fd)
        self.port = app.hal.can["service"]
        self._selftest_at = now + SELFTEST_DELAY_MS
        self.tx_deferred = 0
        self._hold = []

    def on_frame(self, fid, data, now):
        """RX handler of REQ_ID: flow control and responses go out in the same pass."""
        self.link.on_frame(data, now)
        self._flush(now)

    def poll(self, now):
        """Every DIAG_POLL_MS. While a tester holds a non-default session (a
        download in progress) it also drains the service port, so flow control
        and responses leave within one main-loop millisecond instead of the
        service CAN's 5 ms cycle (CanNode.poll only sends cyclic frames when due)."""
        if self._selftest_at is not None and now >= self._selftest_at:
            self._selftest_at = None
            self.target.boot_selftest(now)
        link = self.link
        if link.server.session != uds.DEFAULT or link.tp.receiving():
            self.app.service.poll(now)
        self._flush(now)

    def _flush(self, now):
        """Frames go out until the port refuses one; that one is kept for the next pass."""
        port = self.port
        while True:
            if not self._hold:
                self._hold = self.link.poll(now, _TX_BATCH)
                if not self._hold:
                    return
            while self._hold:
                if not port.send(RSP_ID, self._hold[0]):
                    self.tx_deferred += 1
                    return
                self._hold.pop(0)


__all__ = ("Diag", "DiagConfig", "BoxTarget", "REQ_ID")
