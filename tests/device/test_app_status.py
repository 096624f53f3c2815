"""CCS / NACS stop reasons for the status frames (firmware.app.status.ccs_stop_reason)
and the service tool's ToolCommand on a CCS box (BoxApp(discharge="ccs")).
Runs on CPython and inside MicroPython."""
import firmware  # noqa: F401
from firmware.app.status import ccs_stop_reason
from firmware.can.gen import box
from firmware.charging import table as T
from tests.device.test_app_ccs import B_HIGH_MV, Box


def _r(stop="", end="", loops=0, loop_ms=0, limit=None, err="NO_ERROR"):
    return ccs_stop_reason(stop, end, loops, loop_ms, limit, err)


def test_the_box_asked_to_stop():
    assert _r("soc-floor", "session stop", 40) == box.StopReason_SocFloor
    assert _r("j2847-min-soc", "", 40) == box.StopReason_SocFloor
    assert _r("user-stop") == box.StopReason_UserStop
    assert _r("box", "", 3) == box.StopReason_UserStop
    assert _r("loop-count", "session stop", 10) == box.StopReason_UserStop
    assert _r("box-fault", "", 5) == box.StopReason_BoxFault
    assert _r("contactors-open", "", 5) == box.StopReason_BoxFault


def test_the_car_ended_it():
    assert _r("", "", 12, 1200) == box.StopReason_VehicleStop
    assert _r("", "session stop", 12, 1200, None) == box.StopReason_VehicleStop
    assert _r("", "", 600, 59000, 60) == box.StopReason_VehicleLoopLimit      # at its profile's 60 s
    assert _r("", "", 600, 20000, 60) == box.StopReason_VehicleStop           # well before it
    assert _r("", "", 0) == box.StopReason_VehicleAbort                        # before any loop
    assert _r("", "session stop", 0) == box.StopReason_VehicleAbort
    assert _r("", "", 30, 3000, None, "FAILED_RESSTemperatureInhibit") == box.StopReason_VehicleFault


def test_the_session_failed():
    assert _r("", "sequence timeout", 5) == box.StopReason_CommTimeout
    assert _r("", "no supportedAppProtocolReq") == box.StopReason_CommTimeout
    assert _r("", "connection closed (reset)", 7) == box.StopReason_VehicleAbort
    assert _r("", "isolation fault in CableCheck") == box.StopReason_IsolationFault
    assert _r("", "CableCheck not finished in time") == box.StopReason_BoxFault
    assert _r("", "contactors did not close") == box.StopReason_BoxFault
    assert _r("", "sequence error: SessionSetupReq in state 7", 3) == box.StopReason_ProtocolError
    assert _r("", "unknown session", 3) == box.StopReason_ProtocolError
    assert _r("", "EXI decode error: bad event code") == box.StopReason_ProtocolError
    assert _r("", "something nobody listed") == box.StopReason_ProtocolError
    # every value is one the DBC defines (the signal's range)
    for v in (box.StopReason_VehicleLoopLimit, box.StopReason_VehicleAbort, box.StopReason_ProtocolError,
              box.StopReason_Renewal):
        assert 0 < v <= 15


def _tool(b, cmd, n):
    b.hal.can["service"].inject(box.ID_ToolCommand, box.encode(box.ID_ToolCommand, {
        "Command": cmd, "ModeSelect": box.ModeSelect_Outlets, "CommandCounter": n}))


def test_tool_command_starts_stops_and_clears_a_ccs_box():
    b = Box()
    b.high = B_HIGH_MV
    b.run(400)
    assert b.p.state == T.PLUGGED
    _tool(b, box.Command_Start, 1)
    b.run(50)
    assert b.p.state == T.HANDSHAKE and b.p.want_power
    assert b.hal.pwm["CP_PWM"].duty_permille == 50          # 5 %: the SECC waits for the car
    _tool(b, box.Command_Stop, 2)
    b.run(100)
    assert b.p.state != T.HANDSHAKE and not b.p.want_power
    _tool(b, box.Command_Start, 2)                           # same counter: a repeat, ignored
    b.run(100)
    assert not b.p.want_power
    # ClearFaults reaches the supervisor: an E-stop whose cause is gone is cleared
    b.hal.gpio["ESTOP"].level = 1
    b.app.estop_irq(b.clock.now_ms())
    b.run(200)
    assert b.p.safety.sup.faults
    b.hal.gpio["ESTOP"].level = 0
    b.run(200)
    _tool(b, box.Command_ClearFaults, 3)
    b.run(200)
    assert b.p.safety.sup.faults == 0
