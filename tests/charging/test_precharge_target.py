"""Issue 8 item 6 (precharge target): the precharge source runs only towards
a target someone asked for, never towards the measured inlet voltage. The
source reaches the open inlet through a diode (docs/safety.md); the one
averaged plant (inverter.plant.averaged) models it so for every rig."""
from firmware.charging import table as T
from firmware.safety import supervisor as S
from hil.rigs.discharge import DischargeRig
from hil.vehicles.chademo_car import ChademoCar
from inverter.plant.averaged import AveragedPlant, PlantInputs


def _meas(v_in):
    m = S.Meas()
    m.v_inlet = v_in
    m.v_link = 0.0
    m.veh_seen_ms = m.ps_seen_ms = 0
    m.veh_max_v = 435.0
    m.iso_ohm = 2000000
    return m


def test_no_precharge_target_means_the_source_stays_off():
    sup = S.Supervisor()
    m = _meas(445.0)                       # the inlet still holds the cable-check voltage
    sup.step(0, m, S.I_LINK | S.I_PRECHARGE)
    assert sup.cmd.k_pre == 0 and sup.cmd.pre_target_v == 0.0


def test_an_asked_target_is_used_and_capped():
    sup = S.Supervisor()
    m = _meas(0.0)
    m.veh_target_v = 380.0
    sup.step(0, m, S.I_LINK | S.I_PRECHARGE)
    assert sup.cmd.k_pre == 1 and sup.cmd.pre_target_v == 380.0


def test_the_plant_feeds_the_open_inlet_through_the_diode():
    p = AveragedPlant()
    u = PlantInputs()
    u.src_on, u.src_v = True, 400.0
    for t in range(600):
        p.step_power(t, u, False, 0.0, 0.1)
    assert 398.0 < p.v_link <= 400.0 and p.v_link - 1.0 < p.v_inlet < p.v_link
    u.src_on = False
    for t in range(600, 1200):
        p.step_power(t, u, False, 0.0, 0.1)
    assert p.v_inlet < 20.0                 # the bleeder takes the inlet down once the source is off


def test_chademo_session_passes_precharge_with_the_diode_coupled_source():
    b = DischargeRig(car=ChademoCar(soc=70), load_w=2000.0)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING, 20000), b.state_names()
    assert "Fault" not in b.state_names() and b.app.power.safety.sup.faults == 0
