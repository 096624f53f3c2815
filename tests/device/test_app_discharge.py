"""The box's discharge glue on the sim HAL with a minimal scripted input:
power-stage frames in, setpoints out, power-stage silence latched by the
real supervisor, and the CHAdeMO core's requests mapped onto the session
and the supervisor (handshake -> CableCheck, d2 only below 20 V, dropped on
a trip). Runs on CPython and inside MicroPython."""
import firmware  # noqa: F401
from firmware.app.box import BoxApp
from firmware.can.gen import box
from firmware.can.gen import power_stage as ps
from firmware.protocols.chademo import charger as ch
from firmware.core.clock import SimClock
from firmware.hal import pins
from firmware.hal.sim import make_sim_hal
from firmware.safety import faults as fl
from firmware.charging import table as T


class Script:
    """Booted box + a power stage that only says "DC/DC off, all fine"."""

    def __init__(self):
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.app = BoxApp(self.hal, discharge=True)
        self.app.boot()
        self.p = self.app.power
        self.ps_alive = True
        self.v_inlet = 0.0
        self.sent = []

    def _frames(self, now):
        port = self.hal.can["internal"]
        port.inject(ps.ID_PsDcDcStatus, ps.encode(ps.ID_PsDcDcStatus, {
            "InletVoltage": 0, "InletCurrent": 1.5, "DcLinkVoltage": 0,
            "DcDcState": ps.DcDcState_Off, "DcDcDerating": 0, "AliveCounter": 0}))
        port.inject(ps.ID_PsInverterStatus, ps.encode(ps.ID_PsInverterStatus, {
            "AcVoltageRms": 0, "AcCurrentRms": 0, "AcFrequency": 0, "AcActivePower": 0}))
        if now % 100 == 0:
            port.inject(ps.ID_PsIsolation, ps.encode(ps.ID_PsIsolation, {
                "IsolationResistancePos": 1500, "IsolationResistanceNeg": 900,
                "IsolationState": ps.IsolationState_Valid, "ImdSelfTestOk": 1, "ImdTestVoltage": 0}))
            # every value has a maximum age: temperatures and fault words too
            port.inject(ps.ID_PsTemperatures, ps.encode(ps.ID_PsTemperatures, {
                "TempDcDcPrimary": 30, "TempDcDcSecondary": 30, "TempTransformer": 30,
                "TempInverterBridge": 30, "TempAcFilter": 30, "TempPscMcu": 30, "FanDuty": 0}))
            port.inject(ps.ID_PsFaults, ps.encode(ps.ID_PsFaults, {
                "FaultWordDcDc": 0, "FaultWordInverter": 0, "FaultWordSource": 0,
                "FaultCount": 0, "SafeState": 0}))

    def run(self, ms):
        end = self.clock.now_ms() + ms
        while self.clock.now_ms() < end:
            now = self.clock.now_ms()
            if now % 10 == 0 and self.ps_alive:
                self._frames(now)
            self.hal.adc["V_INLET"].mv = self.v_inlet * 1000 / pins.ADC["V_INLET"][1]
            self.hal.adc["T_INLET"].mv = 750          # 25 degC (a TMP36 reading 0 mV is an open sensor)
            while self.app.next_wake_ms() <= now:
                self.app.step()
            for f in self.hal.can["internal"].drain():
                self.sent.append(f)
            self.clock.advance(5)


def test_power_stage_frames_feed_meas_and_setpoints_go_out():
    s = Script()
    s.run(300)
    m = s.p.safety.m
    assert abs(m.i_dc - 1.5) < 0.01
    assert m.iso_ohm == 900000                    # the lower of the two IMD readings
    assert not m.ps_ready and not m.ps_fault
    assert s.p.safety.sup.faults == 0
    assert s.app.session_state == box.SessionState_Idle and not s.app.fault_active
    ids = [f[0] for f in s.sent]
    for fid in (ps.ID_PsCommand, ps.ID_PsDcDcSetpoint, ps.ID_PsInverterSetpoint, ps.ID_PsSourceSetpoint):
        assert fid in ids
    cmds = [ps.decode(f[0], f[1]) for f in s.sent if f[0] == ps.ID_PsCommand]
    assert cmds[-1]["EnableDcDc"] == 0 and cmds[-1]["Mode"] == ps.Mode_Off
    assert [c["AliveCounter"] for c in cmds[:3]] == [0, 1, 2]


def test_power_stage_silence_latches_the_link_fault():
    s = Script()
    s.run(200)
    s.ps_alive = False
    s.run(300)
    assert s.p.safety.sup.faults & (1 << fl.F_PS_LINK)
    assert s.app.fault_active and s.app.session_state == box.SessionState_Fault


def test_core_requests_map_onto_the_session_and_the_supervisor():
    s = Script()
    g = s.hal.gpio
    g["CHADEMO_PROX"].level = 1                   # plugged
    s.run(100)
    assert s.app.session_state == box.SessionState_Plugged
    s.app.start()
    s.run(50)
    core = s.p.core
    assert s.app.session_state == box.SessionState_Handshake
    assert core.state == ch.ST_WAIT_VEHICLE_CAN     # A_PROTO_START started the core
    assert core.ok[ch.RQ_D1] == 1 and g["CHADEMO_D1"].level == 1
    now = s.clock.now_ms()
    # the core asks for the insulation test: the session's CableCheck starts
    core._request(ch.RQ_INSULATION_TEST, 1, now)
    s.run(50)
    assert s.app.session_state == box.SessionState_IsolationCheck
    assert core.ok[ch.RQ_INSULATION_TEST] != 1      # not before the supervisor says S_ISO_OK
    # d2 is refused while the inlet is live, granted below 20 V
    s.v_inlet = 45.0
    core._request(ch.RQ_D2, 1, s.clock.now_ms())
    s.run(50)
    assert core.ok[ch.RQ_D2] != 1 and g["CHADEMO_D2"].level == 0
    s.v_inlet = 5.0
    s.run(50)
    assert core.ok[ch.RQ_D2] == 1 and g["CHADEMO_D2"].level == 1
    # a trip (E-stop) drops d2 at the next control tick
    g["ESTOP"].level = 1                          # logical: E-stop asserted
    s.app.estop_irq(s.clock.now_ms())
    s.run(20)
    assert g["CHADEMO_D2"].level == 0
    assert s.p.safety.sup.faults & (1 << fl.F_ESTOP)
    assert s.p.safety.session.state != T.ISOLATION_CHECK


def test_tool_command_on_the_service_can_starts_and_stops_once_per_counter():
    s = Script()
    s.hal.gpio["CHADEMO_PROX"].level = 1
    s.run(100)
    svc = s.hal.can["service"]
    start = box.encode(box.ID_ToolCommand, {"Command": box.Command_Start, "ModeSelect": 0, "CommandCounter": 7})
    svc.inject(box.ID_ToolCommand, start)
    s.run(30)
    assert s.app.session_state == box.SessionState_Handshake
    stop = box.encode(box.ID_ToolCommand, {"Command": box.Command_Stop, "ModeSelect": 0, "CommandCounter": 8})
    svc.inject(box.ID_ToolCommand, stop)
    s.run(30)
    assert s.app.session_state == box.SessionState_Plugged
    svc.inject(box.ID_ToolCommand, stop)          # the tool repeats its frame
    svc.inject(box.ID_ToolCommand, box.encode(box.ID_ToolCommand, {
        "Command": box.Command_Start, "ModeSelect": 0, "CommandCounter": 8}))  # same counter: ignored
    s.run(30)
    assert s.app.session_state == box.SessionState_Plugged
