"""End to end in simulated time: the real box firmware (CHAdeMO core + glue +
SafetyApp + power-stage link) on the sim HAL against the simulated CHAdeMO
car and the power-stage/electrical plant (hil.rigs.discharge)."""
from firmware.can.gen import box
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.charging import table as T
from hil.rigs.discharge import DischargeRig
from hil.vehicles.chademo_car import ChademoCar

ROLES_OPEN = ("K_DC_POS", "K_DC_NEG", "PS_ENABLE", "AC_OUT_RELAY")


def _to_supplying(b, load_w=3000.0):
    b.plant.load_w = load_w
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 0.9 * load_w, 20000), \
        b.state_names()


def _service(b, since_ms=0):
    """Service-CAN frames the box sent, decoded with the generated codec."""
    return [(fid, v) for _t, fid, v in b.service_frames(since_ms)]


def test_full_session_supplies_the_load_and_ends_ready_to_unplug():
    b = DischargeRig(car=ChademoCar(soc=70), load_w=3000.0)
    _to_supplying(b)
    b.run(5000)
    assert b.out("AC_OUT_RELAY") == 1 and b.out("K_DC_POS") == 1
    assert abs(b.plant.p_ac - 3000.0) < 1.0
    mid = _service(b, b.now - 500)
    ac = [v for fid, v in mid if fid == box.ID_BoxAcMeasurements]
    assert ac and abs(ac[-1]["AcPower"] - 3000) <= 1 and ac[-1]["AcVoltage"] > 200
    sess = [v for fid, v in mid if fid == box.ID_BoxSession]
    assert sess[-1]["OutputEnabled"] == 1 and sess[-1]["Protocol"] == box.Protocol_Chademo
    hb = [v for fid, v in mid if fid == box.ID_BoxHeartbeat]
    assert hb[-1]["SessionState"] == box.SessionState_Supplying
    veh = [v for fid, v in mid if fid == box.ID_BoxVehicle]
    assert 60 < veh[-1]["VehicleSoc"] <= 70 and veh[-1]["VehicleMaxDischargeCurrent"] == 15
    b.stop()
    assert b.run_until(lambda b: b.state == T.READY_TO_UNPLUG, 15000), b.state_names()
    names = b.state_names()
    want = ["Idle", "Plugged", "Handshake", "IsolationCheck", "PreCharge", "ContactorsClosed",
            "PowerStageStart", "Supplying", "Stopping", "ContactorsOpen", "WeldingCheck",
            "DcLinkDischarge", "ReadyToUnplug"]
    assert names == want, names
    for role in ROLES_OPEN + ("K_PRECHARGE",):
        assert b.out(role) == 0, role
    assert b.plant.v_inlet < L.V_SAFE_V and b.plant.v_link < L.V_SAFE_V
    assert b.app.power.safety.sup.faults == 0
    assert b.app.power.safety.sup.emergency_opens == 0     # opened below 2 A
    assert b.ac_energy_wh > 3000.0 * 5 / 3600
    b.run(1000)
    end = _service(b, b.now - 1100)
    sess = [v for fid, v in end if fid == box.ID_BoxSession]
    assert sess[-1]["StopReason"] == box.StopReason_UserStop and sess[-1]["OutputEnabled"] == 0
    en = [v for fid, v in end if fid == box.ID_BoxEnergy]
    assert abs(en[-1]["EnergyDelivered"] - b.ac_energy_wh / 1000) < 0.002
    assert en[-1]["EnergyFromVehicle"] >= en[-1]["EnergyDelivered"] > 0
    st = b.app.power.status
    assert st.e_dc_wh > st.e_ac_wh * 1.02          # DC/DC + inverter losses
    # the CHAdeMO side ended cleanly too: lock released, d1 open, car asleep again
    b.run(2000)
    assert b.app.power.core.state_name() == "Idle" and not b.app.power.core.fault
    assert b.out("CHADEMO_D1") == 0 and b.out("CHADEMO_D2") == 0 and b.out("LOCK_MOTOR") == 0


def test_soc_floor_ends_the_session():
    floor = L.SOC_FLOOR_DEFAULT_PCT
    b = DischargeRig(car=ChademoCar(soc=floor + 1.8, capacity_kwh=0.3), load_w=3000.0)
    _to_supplying(b)
    assert b.run_until(lambda b: b.state != T.SUPPLYING, 30000)
    assert b.car.soc <= floor + 1.0
    assert b.app.power.safety.sup.faults == 1 << fl.F_SOC_FLOOR    # a normal end, not a failure
    assert b.run_until(lambda b: b.state == T.READY_TO_UNPLUG, 15000), b.state_names()
    assert "Fault" not in b.state_names()
    b.run(300)
    sess = [v for fid, v in _service(b) if fid == box.ID_BoxSession]
    assert sess[-1]["StopReason"] == box.StopReason_SocFloor


def test_estop_during_supplying_opens_the_contactors_at_once():
    b = DischargeRig(load_w=3000.0)
    _to_supplying(b)
    b.run(1000)
    t0 = b.now
    b.estop()
    for role in ROLES_OPEN + ("CHADEMO_D2",):
        ch = b.hal.gpio[role].changes
        assert ch[-1] == (t0, 0), (role, ch[-3:])     # in the interrupt path, same millisecond
    b.run(2000)
    sup = b.app.power.safety.sup
    assert sup.faults & (1 << fl.F_ESTOP)
    assert b.state in (T.WELDING_CHECK, T.DC_LINK_DISCHARGE, T.FAULT)
    assert b.plant.i == 0.0 and b.plant.p_ac == 0.0
    for role in ROLES_OPEN:
        assert b.hal.gpio[role].changes[-1][0] == t0      # nothing re-closed
    assert b.out("CHADEMO_D2") == 0                      # the car was told to open as well


def test_car_can_silence_reaches_the_safe_state_within_the_bound():
    b = DischargeRig(load_w=3000.0)
    _to_supplying(b)
    b.run(1000)
    t0 = b.now
    b.silence_car()
    # bound: link timeout, then a ramp-down no longer than RAMP_DOWN_TIMEOUT_MS,
    # plus one supervisor period and the contactor drop-out
    bound = L.VEHICLE_LINK_TIMEOUT_MS + L.RAMP_DOWN_TIMEOUT_MS + 2 * L.SUPERVISOR_PERIOD_MS
    assert b.run_until(lambda b: all(b.out(r) == 0 for r in ROLES_OPEN), bound + 200)
    t_safe = max(b.hal.gpio[r].changes[-1][0] for r in ROLES_OPEN)
    assert t_safe - t0 <= bound, t_safe - t0
    assert b.app.power.safety.sup.emergency_opens == 0   # ramped down, not broken under load
    b.run(3000)
    assert all(b.out(r) == 0 for r in ROLES_OPEN)
    assert b.state in (T.WELDING_CHECK, T.DC_LINK_DISCHARGE, T.FAULT, T.READY_TO_UNPLUG), b.state_names()


def test_isolation_failure_never_lets_the_car_close():
    b = DischargeRig(load_w=3000.0)
    b.plant.iso_bad = True
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.FAULT, 20000), b.state_names()
    assert "PreCharge" not in b.state_names()
    assert b.app.power.safety.sup.faults & (1 << fl.F_ISOLATION)
    assert b.hal.gpio["CHADEMO_D2"].changes == []          # d2 never closed
    assert b.hal.gpio["K_DC_POS"].changes == []
    assert b.app.power.core.reason_name() == "insulation-fault"
    b.run(300)
    f = [v for _t, fid, v in b.service_frames(b.now - 200) if fid == box.ID_BoxFaults]
    assert f[-1]["FaultIsolation"] == 1 and f[-1]["ActiveFaultCount"] >= 1


def test_power_stage_silence_cuts_and_opens_without_an_emergency_break():
    b = DischargeRig(load_w=3000.0)
    _to_supplying(b)
    b.run(500)
    t0 = b.now
    b.plant.silent = True
    bound = L.PS_LINK_TIMEOUT_MS + L.PS_CUT_SETTLE_MS + 3 * L.SUPERVISOR_PERIOD_MS
    assert b.run_until(lambda b: all(b.out(r) == 0 for r in ROLES_OPEN), bound + 100)
    t_ps = b.hal.gpio["PS_ENABLE"].changes[-1][0] - t0
    t_k = b.hal.gpio["K_DC_POS"].changes[-1][0] - t0
    assert t_ps <= L.PS_LINK_TIMEOUT_MS + 2 * L.SUPERVISOR_PERIOD_MS, t_ps
    assert t_ps + L.PS_CUT_SETTLE_MS <= t_k <= bound, (t_ps, t_k)
    sup = b.app.power.safety.sup
    assert sup.emergency_opens == 0
    assert b.run_until(lambda b: b.state == T.FAULT, 10000), b.state_names()
    assert sup.faults & (1 << fl.F_PS_LINK)
    assert not sup.faults & ((1 << fl.F_WELDED) | (1 << fl.F_INVARIANT) | (1 << fl.F_RAMP_TIMEOUT)), sup.faults


def test_load_step_above_the_cars_limit_is_held_at_the_granted_current():
    car = ChademoCar(max_discharge_a=15)
    b = DischargeRig(car=car, load_w=1000.0)
    _to_supplying(b, load_w=1000.0)
    t_step = b.now + 1000
    b.load_profile = lambda t: 1000.0 if t < t_step else 8000.0     # beyond 15 A x ~380 V
    b.run(4000)
    sup = b.app.power.safety.sup
    assert b.state == T.SUPPLYING and sup.faults == 0
    assert sup.cmd.i_limit_a == 15.0                      # the car's 0x200 limit via A_DISCHARGE_LIMIT
    assert abs(b.plant.i - 15.0) < 0.01
    assert 5000.0 < b.plant.p_ac < 8000.0                  # what 15 A from the pack gives after losses


def test_main_loop_stall_is_cut_by_the_timer_monitor():
    b = DischargeRig(load_w=3000.0)
    _to_supplying(b)
    b.run(500)
    t0 = b.now
    b.stall_firmware()
    b.run(L.LOOP_STALL_MS + L.PS_CUT_SETTLE_MS + 4 * L.MONITOR_PERIOD_MS)
    t_ps = b.hal.gpio["PS_ENABLE"].changes[-1]
    t_ac = b.hal.gpio["AC_OUT_RELAY"].changes[-1]
    t_k = b.hal.gpio["K_DC_POS"].changes[-1]
    assert t_ps[1] == 0 and t_ps[0] - t0 <= L.LOOP_STALL_MS + 2 * L.MONITOR_PERIOD_MS, t_ps
    assert t_ac[1] == 0 and t_ac[0] <= t_ps[0]
    assert t_k[1] == 0 and t_k[0] - t_ps[0] >= L.PS_CUT_SETTLE_MS
    assert b.app.power.safety.sup.faults & (1 << fl.F_LOOP_STALL)
    assert b.plant.i == 0.0


def test_the_output_profile_reaches_the_power_stage_and_the_status_frames():
    """issue 9: 120 V / 60 Hz configured -> the inverter setpoint, the plant's
    output and BoxAcMeasurements follow it (230 V / 50 Hz was hard-coded)."""
    from firmware.can.gen import power_stage as ps
    from firmware.safety import config as cf
    b = DischargeRig(car=ChademoCar(soc=70), load_w=1500.0)
    b.boot()
    s = b.app.power.safety
    assert s.set_config("max_power_w", 3000)[0]
    assert s.set_config("profile", cf.PROFILE_120_60)[0]
    _to_supplying(b, 1500.0)
    b.run(500)
    inv = b.plant.cmd[ps.ID_PsInverterSetpoint]
    assert inv["AcVoltageSetpoint"] == 120 and inv["AcFrequencySetpoint"] == 60
    assert b.plant.v_ac == 120 and b.plant.f_ac == 60
    ac = [v for fid, v in _service(b, b.now - 300) if fid == box.ID_BoxAcMeasurements]
    assert abs(ac[-1]["AcVoltage"] - 120) < 1 and abs(ac[-1]["AcFrequency"] - 60) < 0.1
