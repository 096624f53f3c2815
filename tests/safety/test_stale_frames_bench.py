"""End to end on the CHAdeMO discharge bench (real BoxApp, power-stage CAN):
the stage's isolation and temperature frames stop arriving while the
isolation fails and the stage heats to 120 degC. Before issue 8 their last
values stayed in Meas and the box was still Supplying 5 s later."""
from firmware.can.gen import power_stage as ps
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.charging import table as T
from hil.rigs.discharge import DischargeRig as Bench
from hil.vehicles.chademo_car import ChademoCar


def test_stale_isolation_and_temperature_stop_the_session():
    b = Bench(car=ChademoCar(soc=70), load_w=3000.0)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 2500, 30000), b.state_names()
    b.run(500)
    b.plant.mute = (ps.ID_PsIsolation, ps.ID_PsTemperatures)
    b.plant.iso_bad = True
    b.plant.temp = 120.0
    t0 = b.now
    bound = L.SLOW_FRAME_MAX_AGE_MS + 100 + L.RAMP_DOWN_TIMEOUT_MS + 4 * L.SUPERVISOR_PERIOD_MS
    assert b.run_until(lambda b: b.out("K_DC_POS") == 0, 5000)
    assert b.now - t0 <= bound, b.now - t0
    faults = b.app.power.safety.sup.faults
    assert faults & (1 << fl.F_T_SENSOR) and faults & (1 << fl.F_IMD)
    assert b.state != T.SUPPLYING and b.car.opened_under_load == 0
