"""V2V through the box's J1772 outlet mode: the supervisory loop advertises
exactly what the budget delivers, the receiving car's onboard charger takes
what the pilot offers, and the inverter carries it inside its rating while
the offer follows the SoC floor and temperature derating down."""
import pytest

from firmware.can.gen import power_stage as ps
from inverter.controller import fastloop as FL
from inverter.controller import supervisory as SV
from inverter.plant import analysis as A
from inverter.plant import loads as LD
from inverter.plant import switching as S


def _status(sv, now, temp):
    sv.rx(ps.ID_PsDcDcStatus, {"InletVoltage": 380.0, "InletCurrent": 0.0, "DcLinkVoltage": 420.0,
                               "DcDcState": 2, "DcDcDerating": 0, "AliveCounter": 0}, now)
    sv.rx(ps.ID_PsTemperatures, {"TempDcDcPrimary": temp, "TempDcDcSecondary": 30, "TempTransformer": 30,
                                 "TempInverterBridge": 30, "TempAcFilter": 30, "TempPscMcu": 30, "FanDuty": 0}, now)


def test_outlet_offer_drives_the_second_cars_charger():
    sv = SV.Supervisory(SV.PROFILE_230_50, 3600, 20, cable_a=16)
    sim = S.InverterSim("230_50", averaged=True, ramp_ms=SV.SOFT_START_MS)
    obc = LD.Mode2Charger(0.0, 230.0, t_relay=0.6, t_ramp=0.3).at(0, 0.0)
    sim.add(obc)
    seen = []
    for soc, temp, t_run in ((60.0, 40.0, 1.2), (20.8, 40.0, 0.4), (60.0, 80.0, 0.4), (20.0, 40.0, 0.3)):
        sv.car_limits(25.0, 20000.0, 300.0, soc)
        _status(sv, 0, temp)
        sv.tick(0, True)
        on, duty, state_f = sv.outlet_offer()
        obc.i_set = SV.j1772_amps(duty) if on else 0.0      # the car reads the pilot
        tr = sim.run(t_run)
        i = A.rms(A.window(tr.io[:, 0], tr.fs, 50.0, 5))
        v = A.rms(A.window(tr.vc[:, 0], tr.fs, 50.0, 5))
        seen.append((soc, temp, on, duty, state_f, i, v))
        assert sim.ctl.state == FL.INV_RUN
        assert abs(v - 230.0) < 2.3
        assert i <= sv.budget_w / 230.0 + 0.2                # never more than the budget delivers
        assert i == pytest.approx(obc.i_set, abs=0.3)
    (_, _, on0, d0, _, i0, _), (_, _, _, d1, _, i1, _), (_, _, _, d2, _, i2, _), (_, _, on3, _, f3, i3, _) = seen
    assert on0 and d0 == 250 and 14.5 < i0 <= 15.65          # 15 A: the 3.6 kW rating rounded down
    assert d1 < d0 and i1 < 0.5 * i0 + 0.5                   # 0.8 % above the floor: 40 % of the budget
    assert d2 < d0 and i2 == pytest.approx(15.65 * 2 / 3, abs=1.0)   # 80 C: derated to 2/3
    assert not on3 and f3 and i3 < 0.3                       # floor reached: pilot to state F, no current
