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
    def __init__(self):
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.t = MemoryTransport()
        self.app = BoxApp(self.hal, discharge="ccs")
        self.app.v2g_transport = self.t
        self.app.v2g_cfg = {"profile": "generic"}
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
