"""The whole CCS link of the box end to end: pilot (car model) -> 5 % -> the
reference PEV's SLAC -> both modems in one AVLN -> the kernel (car) finds the
box by SDP and talks TCP to the box's own stack -> B/C/B pilot moves ->
SessionStop keeps the oscillator 1.5 s -> unplug. Needs root."""
import struct
import time

import pytest

from firmware.protocols.ccs import cp
from hil.ccs import netns
from hil.ccs.e2e import E2eRig
from hil.ccs.tcp_interop import recv_v2gtp, v2gtp


def test_plug_in_slac_sdp_tcp_pilot_moves_and_unplug():
    with netns.topology() as topo:
        rig = E2eRig(topo).start()
        try:
            # nothing plugged: no oscillator, and the car's IP cannot reach the box (no AVLN yet)
            with pytest.raises(TimeoutError):
                rig.peer.sdp(timeout=0.5, tries=2)
            assert rig.link.cp.request() == (False, 0, False) and rig.line.blocked > 0
            t_plug = rig.now_ms()
            rig.car_do(lambda c: c.plug_in())
            t_b, _ = rig.wait_event(lambda e: e[:3] == ("pilot", "A", "B"))
            assert t_b - t_plug <= cp.CP_STATE_DETECTION_TIMEOUT_MS
            assert rig.link.cp.request() == (True, 50, False)
            rig.wait_event(lambda e: e[:2] == ("slac", "matched"))
            assert rig.ev_modem.same_avln(rig.evse_modem) or _wait(lambda: rig.ev_modem.same_avln(rig.evse_modem))
            data, _addr = rig.peer.sdp(timeout=5)
            ip, port = data[8:24], struct.unpack(">H", data[24:26])[0]
            s = rig.peer.connect(ip, port)
            s.settimeout(10)
            for n in (40, 1500, 5000):
                msg = bytes(range(256)) * (n // 256) + bytes(n % 256)
                s.sendall(v2gtp(0x8001, msg))
                assert recv_v2gtp(s)[2] == msg
            rig.wait_event(lambda e: e == ("slac", "linked"))
            rig.car_do(lambda c: c.charge_parameter_discovery_done())
            t_c = rig.now_ms()
            t_bc, _ = rig.wait_event(lambda e: e[:3] == ("pilot", "B", "C"))
            assert t_bc - t_c <= cp.CP_STATE_DETECTION_TIMEOUT_MS
            rig.car_do(lambda c: c.power_delivery_stop())
            rig.wait_event(lambda e: e[:3] == ("pilot", "C", "B"))
            s.close()
            with rig._lock:
                rig.link.session_stop(rig.now_ms())
            t_stop = rig.now_ms()
            time.sleep(1.0)
            assert rig.link.cp.request()[0] is True                  # retained
            _wait(lambda: rig.link.cp.request()[0] is False, 2.0)
            assert rig.now_ms() - t_stop >= cp.CP_OSC_RETAIN_MS
            rig.car_do(lambda c: c.unplug())
            rig.wait_event(lambda e: e[:3] == ("pilot", "B", "A"))
            assert rig.link.slac.state == "IDLE"
        finally:
            rig.stop()
    assert "<-- CM_SLAC_MATCH.CNF" in rig.pev_out
    assert netns.leftovers() == []


def _wait(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    raise AssertionError("condition not met")
