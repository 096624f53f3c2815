"""The box's CCS composition (firmware.app.ccs) on the sim HAL: the pilot
sees the car, a user start grants the 5 % pilot, the SECC answers SDP over the
memory transport, the isolation result is latched for the SECC, PowerDelivery
stop ends the session through the port, an E-stop drops the pilot. Runs on
CPython and inside MicroPython."""
import firmware  # noqa: F401
from firmware.app.box import BoxApp
from firmware.app.ccs import CcsPortVerbs, end_kind
from firmware.charging import port as P
from firmware.charging import table as T
from firmware.charging.port import ChargingPort
from firmware.can.gen import power_stage as ps
from firmware.core.clock import SimClock
from firmware.hal.sim import make_sim_hal
from firmware.protocols.ccs import sdp
from firmware.protocols.ccs.transport import MemoryTransport
from firmware.safety.supervisor import Cmd

B_HIGH_MV = 8900     # state B plateau (2.74 kOhm): about 9 V
LOW_MV = -12000


class Box:
    def __init__(self, link=False, cfg=None):
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.t = None if link else MemoryTransport()   # None: the app runs CcsLink on hal.plc
        self.app = BoxApp(self.hal, discharge="ccs")
        self.app.v2g_transport = self.t
        self.app.v2g_cfg = cfg or {"profile": "generic"}
        self.app.boot()
        self.p = self.app.power
        self.high = 12000

    def run(self, ms):
        end = self.clock.now_ms() + ms
        while self.clock.now_ms() < end:
            now = self.clock.now_ms()
            self.hal.adc["T_INLET"].mv = 750      # 25 degC (0 mV would be an open sensor)
            port = self.hal.can["internal"]
            if now % 10 == 0:      # a power stage that says "off, all fine"
                port.inject(ps.ID_PsDcDcStatus, ps.encode(ps.ID_PsDcDcStatus, {
                    "InletVoltage": 0, "InletCurrent": 0, "DcLinkVoltage": 0,
                    "DcDcState": ps.DcDcState_Off, "DcDcDerating": 0, "AliveCounter": 0}))
                port.inject(ps.ID_PsInverterStatus, ps.encode(ps.ID_PsInverterStatus, {
                    "AcVoltageRms": 0, "AcCurrentRms": 0, "AcFrequency": 0, "AcActivePower": 0}))
            if now % 100 == 0:     # every value has a maximum age
                port.inject(ps.ID_PsIsolation, ps.encode(ps.ID_PsIsolation, {
                    "IsolationResistancePos": 1500, "IsolationResistanceNeg": 900,
                    "IsolationState": ps.IsolationState_Valid, "ImdSelfTestOk": 1, "ImdTestVoltage": 0}))
                port.inject(ps.ID_PsTemperatures, ps.encode(ps.ID_PsTemperatures, {
                    "TempDcDcPrimary": 30, "TempDcDcSecondary": 30, "TempTransformer": 30,
                    "TempInverterBridge": 30, "TempAcFilter": 30, "TempPscMcu": 30, "FanDuty": 0}))
                port.inject(ps.ID_PsFaults, ps.encode(ps.ID_PsFaults, {
                    "FaultWordDcDc": 0, "FaultWordInverter": 0, "FaultWordSource": 0,
                    "FaultCount": 0, "SafeState": 0}))
            pwm = self.hal.pwm["CP_PWM"]
            d = pwm.duty_permille
            self.p.pilot_sample(-12000 if d == 0 else self.high, LOW_MV if 0 < d < 1000 else None, now)
            while self.app.next_wake_ms() <= now:
                self.app.step()
            self.hal.can["internal"].drain()
            self.hal.can["service"].drain()
            self.clock.advance(5)


def test_plug_start_pilot_and_sdp():
    b = Box()
    b.run(100)
    assert b.p.state == T.IDLE
    assert b.hal.pwm["CP_PWM"].duty_permille == 1000   # X1: static +12 V
    b.high = B_HIGH_MV
    b.run(400)
    assert b.p.state == T.PLUGGED
    assert b.hal.pwm["CP_PWM"].duty_permille == 1000   # no 5 % before the user starts
    b.app.start()
    b.run(50)
    assert b.p.state == T.HANDSHAKE
    assert b.hal.pwm["CP_PWM"].freq_hz == 1000 and b.hal.pwm["CP_PWM"].duty_permille == 50
    b.t.ev_sdp((b"\xfe\x80" + bytes(13) + b"\x02", 50000), sdp.encode_request())
    b.run(20)
    replies = b.t.ev_sdp_replies()
    assert len(replies) == 1
    addr, port = sdp.decode_response(replies[0][1])[:2]
    assert (addr, port) == b.t.local_endpoint()
    b.app.estop_irq(b.clock.now_ms())
    assert b.hal.pwm["CP_PWM"].duty_permille == 0      # the supervisor drives state F
    b.run(500)
    assert b.p.state != T.IDLE                          # F is not read as an unplug


class _Sup:
    cmd = Cmd()
    faults = 0


class _M:
    v_inlet = 0.0
    i_dc = 0.0


def test_a_v2g_end_has_the_kind_of_who_ended_it():
    assert end_kind("session stop") == P.STOP_NORMAL
    assert end_kind("connection closed (peer)", True) == P.STOP_NORMAL     # after its PowerDelivery stop
    for why in ("connection closed (peer)", "connection closed (reset)", "sequence timeout",
                "sequence timeout (car silent after the energy transfer)", "inlet lost"):
        assert end_kind(why) == P.STOP_VEHICLE_ABORT, why
    for why in ("sequence error: x", "EXI decode error: y", "unknown session", ""):
        assert end_kind(why) == P.STOP_PROTOCOL, why


def test_verbs_latch_the_isolation_result_and_stop_through_the_port():
    from firmware.safety import supervisor as sv
    cp = ChargingPort()
    v = CcsPortVerbs(cp)
    v.cable_check(450)
    assert cp.cable_check_v == 450
    cp.update(0, sv.S_ISO_OK, _Sup, _M, T.ISOLATION_CHECK, 0, False)
    v.observe(0)
    cp.update(10, 0, _Sup, _M, T.PRECHARGE, 0, False)      # the port shows Unknown again
    assert cp.iso == P.ISO_UNKNOWN
    assert v.isolation() == P.ISO_VALID                     # the SECC still reads the passed test
    v.cable_check(0)
    assert v.cable_check_done()
    v.close()
    assert cp.close and v.car_closed
    v.open()
    assert not cp.close and cp.stop_kind == P.STOP_NORMAL
    assert T.EV_VEHICLE_STOP in cp.events()


# ---------------------------------------------------------------- on the box's own link (CcsLink on hal.plc)
_n = [0]


def _rng(n):
    out = bytearray(n)
    for i in range(n):
        _n[0] = (_n[0] * 75 + 74) % 65537
        out[i] = _n[0] & 0xFF
    return bytes(out)


def _mmes(frames, mmtype):
    from firmware.protocols.ccs.slac import mme
    out = []
    for f in frames:
        if f[12:14] == b"\x88\xe1" and mme.header(f)[3] == mmtype:
            out.append(mme.decode(f))
    return out


def test_link_one_pilot_slac_per_session_with_a_fresh_nmk():
    from firmware.protocols.ccs.slac import evse as se
    from firmware.protocols.ccs.slac import mme
    b = Box(link=True, cfg={"profile": "generic", "rng": _rng})
    plc = b.hal.plc
    assert b.p.link is not None and b.p.pilot is b.p.link.cp      # no second pilot core
    b.high = B_HIGH_MV
    b.run(400)
    assert b.p.state == T.PLUGGED and b.p.link.slac.state == se.IDLE   # no 5 %, no SLAC yet
    assert not _mmes(plc.tx, mme.CM_SET_KEY | mme.REQ)
    plc.tx = []
    b.app.start()
    b.run(50)
    assert b.hal.pwm["CP_PWM"].duty_permille == 50
    keys = _mmes(plc.tx, mme.CM_SET_KEY | mme.REQ)
    assert len(keys) == 1 and keys[0]["dst"] == mme.MODEM_LOCAL
    plc.rx.append(mme.set_key_cnf(b.p.link.slac.mac, b"\x00\xb0\x52\x00\x00\x01"))
    plc.rx.append(mme.slac_parm_req(mme.BROADCAST, b"\x02\xee\x00\x00\x00\x01", b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    b.run(50)
    assert b.p.link.slac.state == se.WAIT_START_ATTEN
    assert _mmes(plc.tx, mme.CM_SLAC_PARM | mme.CNF)
    assert [e[1][1] for e in b.p.link_log if e[1][0] == "slac"][:1] == ["start"]
    # a second box session on the same plug-in: a new SET_KEY with another NMK
    first = keys[0]["new_key"]
    b.app.stop()
    b.run(3000)
    plc.tx = []
    b.app.start()
    b.run(50)
    again = _mmes(plc.tx, mme.CM_SET_KEY | mme.REQ)
    assert len(again) == 1 and again[0]["new_key"] != first
    # unplug: SLAC stops
    b.high = 12000
    b.run(400)
    assert b.p.link.slac.state == se.IDLE


def test_link_sdp_is_answered_on_the_box_own_stack():
    from firmware.protocols.ccs.net import ipv6
    from firmware.protocols.ccs.net.stack import Stack
    b = Box(link=True, cfg={"profile": "generic", "rng": _rng})
    car = Stack(b"\x02\xee\x00\x00\x00\x01", _rng)
    car.bind_udp(50000)
    b.high = B_HIGH_MV
    b.run(400)
    b.app.start()
    b.run(50)
    car.send_udp(50000, ipv6.ALL_NODES, 15118, sdp.encode_request(), b.clock.now_ms())
    for f in car.to_send():
        b.hal.plc.rx.append(bytes(f))
    b.run(30)
    got = []
    for f in b.hal.plc.tx:
        if f[12:14] == b"\x86\xdd":
            car.receive(f, b.clock.now_ms())
    for e in car.events():
        if e[0] == "udp":
            got.append(e[3])
    assert len(got) == 1
    addr, port = sdp.decode_response(got[0])[:2]
    assert (addr, port) == b.p.link.transport.local_endpoint()
    assert addr == ipv6.link_local_from_mac(b.p.link.slac.mac)


def test_link_garbage_on_the_modem_link_is_counted_not_fatal():
    b = Box(link=True, cfg={"profile": "generic", "rng": _rng})
    b.high = B_HIGH_MV
    b.run(400)
    b.app.start()
    b.run(50)
    for f in (b"", b"\x00" * 13, b"\xff" * 12 + b"\x86\xdd" + b"\x60" + bytes(60),
              b"\xff" * 12 + b"\x88\xe1" + b"\x01\x60\x60", b"\x33" * 200):
        b.hal.plc.rx.append(f)
    b.run(50)
    c = b.p.link.transport.stack.counters
    dropped = 0
    for k in c:
        if k not in ("rx", "tx"):
            dropped += c[k]
    assert c["rx"] == 1 and dropped == 1               # the one IPv6 frame: dropped and counted
    assert sum(b.p.link.slac.errors.values()) >= 3     # the rest went to SLAC: refused and counted
    assert b.p.state == T.HANDSHAKE and b.hal.pwm["CP_PWM"].duty_permille == 50


def test_link_bad_config_is_refused():
    from firmware.app.ccs import CcsDischarge
    for mac in (b"\x01\x00\x00\x00\x00\x01", b"\x02\x00", "02:00:00:00:00:01"):
        clock = SimClock()
        hal = make_sim_hal(clock)
        try:
            CcsDischarge(hal, None, None, {"link_mac": mac})
            raise AssertionError("accepted link_mac %r" % (mac,))
        except ValueError:
            pass
    hal = make_sim_hal(SimClock())
    hal.plc = None
    try:
        CcsDischarge(hal, None, None, {})
        raise AssertionError("no transport and no modem link accepted")
    except ValueError:
        pass
