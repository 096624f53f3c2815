"""The CCS box from the service tool and on its status frames (hil/rigs/ccs.py, simulated
time): ToolCommand Start / Stop / ClearFaults on the service CAN drive BoxApp(discharge="ccs")
like the buttons do, and BoxSession says which V2G protocol runs and why a CCS session
ended (dbc/box.dbc StopReason), decoded from the frames the box really sent."""
import firmware  # noqa: F401
from firmware.can.gen import box
from firmware.charging import table as T
from firmware.protocols.ccs import v2gtp
from firmware.v2g.exi import codec_for
from hil.rigs.ccs import CcsRig

END = (T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)


class Tool:
    """The service tool's side of the rig's service CAN: sends ToolCommand frames,
    keeps every frame the box sent (decoded)."""

    def __init__(self, rig):
        self.rig = rig
        self.sent = []          # (t_ms, id, values)
        self.counter = 0
        can = rig.hal.can["service"]
        drain = can.drain

        def keep():
            out = drain()
            for f in out:
                fid, data = f[0], f[1]
                if fid in (box.ID_BoxSession, box.ID_BoxHeartbeat):
                    self.sent.append((rig.now, fid, box.decode(fid, data)))
            return out
        can.drain = keep

    def command(self, cmd, counter=None):
        if counter is None:
            self.counter = (self.counter + 1) & 0xFF
            counter = self.counter
        self.rig.hal.can["service"].inject(box.ID_ToolCommand, box.encode(box.ID_ToolCommand, {
            "Command": cmd, "ModeSelect": box.ModeSelect_Outlets, "CommandCounter": counter}))

    def session(self):
        """The last BoxSession frame the box sent."""
        s = [v for _t, fid, v in self.sent if fid == box.ID_BoxSession]
        return s[-1]

    def reasons(self):
        """StopReason values in the order they appeared on the bus."""
        out = []
        for _t, fid, v in self.sent:
            if fid == box.ID_BoxSession and (not out or out[-1] != v["StopReason"]):
                out.append(v["StopReason"])
        return out


def _rig(car=None, cfg=None, **kw):
    r = CcsRig(car=car, cfg=cfg, **kw)
    tool = Tool(r)
    r.plug()
    r.run(300)
    return r, tool


def _until_over(r, ms):
    r.run_until(lambda r: r.ev is not None and r.ev.done and r.state in END and not r.power.active, ms)
    r.run(1500)       # a BoxSession frame or two after the end


def test_tool_command_starts_and_stops_a_ccs_session_once_per_counter():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 120000}, cfg={"profile": "generic", "connector": "ccs2"})
    tool.command(box.Command_Start)
    assert r.run_until(lambda r: r.state == T.SUPPLYING, 20000), r.state_names()
    r.run(1000)
    s = tool.session()
    assert s["Protocol"] == box.Protocol_Din70121 and s["Connector"] == box.Connector_Ccs2
    assert s["OutputEnabled"] == 1 and s["StopReason"] == box.StopReason_None
    tool.command(box.Command_Stop)
    _until_over(r, 30000)
    assert r.ev.result == "completed" and "EVSE_Shutdown" in r.ev.log[0][1], r.ev.log
    assert r.state == T.READY_TO_UNPLUG and r.power.safety.sup.faults == 0
    assert tool.session()["StopReason"] == box.StopReason_UserStop
    # the tool repeats its last frame: nothing starts
    tool.command(box.Command_Start, counter=tool.counter)
    r.run(2000)
    assert len(r.evs) == 1 and r.state == T.READY_TO_UNPLUG


def test_tool_clear_faults_clears_a_ccs_fault_once_the_cause_is_gone():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 120000})
    tool.command(box.Command_Start)
    assert r.run_until(lambda r: r.state == T.SUPPLYING, 20000), r.state_names()
    r.hal.gpio["ESTOP"].level = 1                   # E-stop pressed
    r.power.estop_irq(r.now)
    r.run(3000)
    assert r.state in (T.FAULT, T.LOCKOUT) and r.power.safety.sup.faults
    assert tool.session()["StopReason"] == box.StopReason_Estop
    tool.command(box.Command_ClearFaults)           # still pressed: stays
    r.run(500)
    assert r.power.safety.sup.faults
    r.hal.gpio["ESTOP"].level = 0                   # released
    r.run(500)
    tool.command(box.Command_ClearFaults)
    r.run(1000)
    assert r.power.safety.sup.faults == 0 and r.state not in (T.FAULT, T.LOCKOUT), r.state_names()


def test_car_loop_timer_at_its_profile_limit_shows_vehicle_loop_limit():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 30000}, cfg={"profile": "porsche-taycan", "renew_max": 0})
    tool.command(box.Command_Start)
    _until_over(r, 80000)
    assert r.ev.log[0][1] == "loop ends: loop time limit", r.ev.log
    assert tool.session()["StopReason"] == box.StopReason_VehicleLoopLimit


def test_car_ending_the_loop_on_its_own_shows_vehicle_stop():
    r, tool = _rig(car={"loops": 12}, cfg={"profile": "generic", "renew_max": 0})   # no renewal
    tool.command(box.Command_Start)
    _until_over(r, 40000)
    assert r.ev.result == "completed", r.ev.log
    assert tool.session()["StopReason"] == box.StopReason_VehicleStop


def test_soc_floor_shows_soc_floor():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 120000}, cfg={"profile": "generic"},
                   soc=22.0, capacity_kwh=0.01)
    tool.command(box.Command_Start)
    _until_over(r, 100000)
    assert "EVSE_Shutdown" in r.ev.log[0][1], r.ev.log
    assert tool.session()["StopReason"] == box.StopReason_SocFloor


def test_renewal_shows_renewal_then_the_last_end():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 20000}, cfg={"profile": "vw-meb", "renew_max": 1,
                                                                  "renew_pilot": "x1"})
    tool.command(box.Command_Start)
    r.run(70000)
    assert r.power.renewals == 1 and len(r.evs) == 2, r.power.log
    reasons = tool.reasons()
    # car ended (20 s, not the profile's 60 s) -> renewing -> the renewal limit: it stays ended
    assert reasons == [box.StopReason_None, box.StopReason_VehicleStop, box.StopReason_Renewal,
                       box.StopReason_VehicleStop], reasons
    # while the renewed session supplied, the status said so
    sup = [v for t, fid, v in tool.sent if fid == box.ID_BoxSession and v["OutputEnabled"]]
    assert any(v["StopReason"] == box.StopReason_Renewal for v in sup)


def test_car_aborting_on_the_isolation_status_shows_vehicle_abort():
    r, tool = _rig(car={"loops": 10, "bad_isolation": ("Valid",)})   # a car that dislikes even Valid
    tool.command(box.Command_Start)
    _until_over(r, 40000)
    assert "after CableCheck" in r.ev.result, r.ev.result
    assert r.ac_energy_wh == 0 and r.out_k() == (0, 0)
    assert tool.session()["StopReason"] == box.StopReason_VehicleAbort


def test_out_of_sequence_request_shows_protocol_error():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 120000})
    tool.command(box.Command_Start)
    assert r.run_until(lambda r: r.state == T.SUPPLYING, 20000), r.state_names()
    ev = r.ev
    bad = {"V2G_Message": {"Header": {"SessionID": ev.sid}, "Body": {"SessionSetupReq": {"EVCCID": b"\x02\x00"}}}}
    r.transport.ev_send(ev.cid, v2gtp.frame(v2gtp.EXI, codec_for("din").encode(bad)))   # the default car: DIN
    r.run(10000)
    rec = r.records()[-1]
    assert rec["ended"].startswith("sequence error"), rec
    assert r.out_k() == (0, 0)
    assert tool.session()["StopReason"] == box.StopReason_ProtocolError


def test_silent_car_shows_comm_timeout():
    r, tool = _rig(car={"loops": 0, "loop_limit_ms": 120000})
    tool.command(box.Command_Start)
    assert r.run_until(lambda r: r.state == T.SUPPLYING, 20000), r.state_names()
    r.ev.step = lambda now: None                    # the car's EVCC hangs
    r.run(70000)
    assert r.out_k() == (0, 0)
    assert tool.session()["StopReason"] == box.StopReason_CommTimeout, (tool.reasons(), r.records())
