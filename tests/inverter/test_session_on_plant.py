"""The whole CHAdeMO discharge session (real box firmware, simulated car) on
the inverter plant (inverter/plant/stage.py) instead of the bench's ramp
model: switching level and averaged, both around the real fast control law."""
import pytest

from firmware.charging import table as T
from firmware.safety import faults as fl
from hil.rigs.discharge import DischargeRig as Bench
from hil.vehicles.chademo_car import ChademoCar
from inverter.controller import supervisory as SV
from inverter.plant.stage import PowerStageModel

WANT = ["Idle", "Plugged", "Handshake", "IsolationCheck", "PreCharge", "ContactorsClosed",
        "PowerStageStart", "Supplying", "Stopping", "ContactorsOpen", "WeldingCheck",
        "DcLinkDischarge", "ReadyToUnplug"]


@pytest.mark.parametrize("averaged", [False, True], ids=["switching", "averaged"])
def test_chademo_discharge_session_runs_on_the_inverter_plant(averaged):
    st = PowerStageModel("230_50", averaged=averaged)
    b = Bench(car=ChademoCar(soc=70), load_w=3000.0, stage=st)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 0.9 * 3000.0, 20000), b.state_names()
    b.run(1300)
    p_in = 0.0
    for _ in range(200):                                    # 200 ms: the DC/DC current carries 2f ripple
        b.step()
        p_in += b.plant.i * b.plant.v_inlet / 200
    assert b.state == T.SUPPLYING
    assert abs(st.v_ac - 230.0) < 2.3                      # regulated by the real control law
    assert st.p_ac == pytest.approx(3000.0, rel=0.02)
    # the inlet carries the load plus the DC/DC and inverter losses
    assert 1.02 * st.p_ac < p_in < 1.10 * st.p_ac
    assert b.app.power.safety.sup.faults == 0
    # the supervisory loop on the main controller trims the RMS onto nominal
    # and accounts the energy from what the power stage reports
    inv = b.app.power.ps.inv
    assert abs(st.v_ac - 230.0) < 0.5
    assert inv.trim != 0.0
    assert inv.e_ac_wh == pytest.approx(b.ac_energy_wh, rel=0.03)
    assert inv.e_car_wh > inv.e_ac_wh > 0
    assert st.sim.ctl.ramp_s == SV.SOFT_START_MS / 1000.0       # soft start as the main controller set it
    pl = b.plant                                                # the PowerPlant contract's energy counters
    assert pl.e_batt_wh > pl.e_inlet_wh > pl.e_dc_wh > pl.e_ac_wh > 0
    assert 0.03 < pl.losses_wh() / pl.e_batt_wh < 0.12
    b.stop()
    assert b.run_until(lambda b: b.state == T.READY_TO_UNPLUG, 15000), b.state_names()
    assert b.state_names() == WANT
    assert b.app.power.safety.sup.faults == 0
    assert st.p_ac == 0.0 and not st.ready


def test_split_phase_profile_from_the_configuration():
    """The configured 120/240 V profile reaches the power stage as its
    setpoints; the session supplies an unbalanced split-phase panel."""
    from inverter.plant import loads as LD
    st = PowerStageModel("split_120_240", averaged=True)
    st.extra_loads = LD.panel_split(1200.0, 400.0, 1500.0)
    b = Bench(car=ChademoCar(soc=70), load_w=0.0, stage=st)
    b.boot()
    ok, why = b.app.power.safety.set_config("profile", "120/240V split phase")
    assert ok, why
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 2500.0, 20000), b.state_names()
    b.run(1000)
    inv = b.app.power.ps.inv
    assert inv.inv["AcVoltageSetpoint"] == pytest.approx(240.0, abs=3.0)
    assert inv.inv["AcFrequencySetpoint"] == 60.0
    ctl = st.sim.ctl
    assert ctl.f_hz == 60.0
    for p in (0, 1):
        assert ctl.v_rms[p] == pytest.approx(120.0, abs=1.2)
    assert st.p_ac == pytest.approx(3100.0, rel=0.03)
    assert b.app.power.safety.sup.faults == 0


@pytest.mark.parametrize("interlock", [False, True])
def test_v2h_needs_the_transfer_interlock(interlock):
    st = PowerStageModel("split_120_240", averaged=True)
    b = Bench(car=ChademoCar(soc=70), load_w=2000.0, stage=st)
    b.boot()
    for k, v in (("profile", "120/240V split phase"), ("mode", "V2H")):
        ok, why = b.app.power.safety.set_config(k, v)
        assert ok, why
    b.plant.v2h_interlock = interlock               # the transfer switch's contact (pin V2H_INTERLOCK)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    got = b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 1800.0, 12000)
    if interlock:
        assert got, b.state_names()
        assert b.out("NPE_BOND_RELAY") == 0            # the house keeps its own bond
    else:
        assert not got, b.state_names()
        assert "Supplying" not in b.state_names()
        assert b.app.power.ps.refusal == "transfer interlock open"
        assert b.out("AC_OUT_RELAY") == 0 and st.p_ac == 0.0 and st.v_ac == 0.0


def test_v2h_refuses_a_live_inlet():
    st = PowerStageModel("split_120_240", averaged=True)
    b = Bench(car=ChademoCar(soc=70), load_w=2000.0, stage=st)
    b.boot()
    for k, v in (("profile", "120/240V split phase"), ("mode", "V2H")):
        assert b.app.power.safety.set_config(k, v)[0]
    b.plant.v2h_interlock = True
    b.plant.backfeed_v = 240.0                         # the grid is on the inlet
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert not b.run_until(lambda b: b.state == T.SUPPLYING, 8000)
    assert b.out("AC_OUT_RELAY") == 0 and st.v_ac == 0.0


def _v2v_bench(rcd_dead=False):
    st = PowerStageModel("230_50", averaged=True)
    b = Bench(car=ChademoCar(soc=70), load_w=2000.0, stage=st)
    b.boot()
    assert b.app.power.safety.set_config("mode", "V2V")[0]
    b.plant.rcd_dead = rcd_dead
    b.app.power.ps.inv.cable_a = 16                    # J1772 outlet mode, 16 A socket
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    return b, st


def test_v2v_rcd_self_test_then_outlet_pilot():
    b, st = _v2v_bench()
    got = b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 1800.0, 12000)
    assert got, b.state_names()
    h = b.hal
    tests = [t for t, lv in h.gpio["RCD_TEST"].changes if lv]
    closes = [t for t, lv in h.gpio["AC_OUT_RELAY"].changes if lv]
    assert tests and closes and tests[0] < closes[0]   # self-tested before the relay closed
    assert b.out("NPE_BOND_RELAY") == 1
    duty = h.pwm["OUTLET_CP_PWM"].duty_permille
    assert SV.j1772_amps(duty) <= 16 and 80 <= duty <= 970   # the outlet advertises what it can deliver
    assert b.app.power.safety.sup.cmd.outlet_cp_pwm_on == 1


def test_v2v_rcd_that_does_not_trip_keeps_the_output_off():
    b, st = _v2v_bench(rcd_dead=True)
    assert not b.run_until(lambda b: b.plant.p_ac > 100.0, 8000)
    sup = b.app.power.safety.sup
    assert sup.faults & (1 << fl.F_RCD_TEST)
    assert b.out("AC_OUT_RELAY") == 0 and st.v_ac == 0.0
    assert b.hal.pwm["OUTLET_CP_PWM"].duty_permille == 0      # outlet pilot in state F
