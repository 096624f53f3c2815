"""Lifecycle and plant figures from one demo session on the discharge rig
(real firmware, simulated CHAdeMO car, the averaged plant), in simulated time:

  lifecycle.release_to_ready_ms   ReadyToUnplug minus the last of d2/d1/lock
                                  released (>= 0: the session ends only after
                                  the protocol let go of the car)
  lifecycle.stop_to_ready_ms      user stop to ReadyToUnplug
  lifecycle.restart_after_stop_ms stop in the handshake, start 200 ms later:
                                  start command to Supplying (the held start)
  plant.losses_pct                energy drawn from the pack (OCV * i) that did
                                  not reach the AC load, over a 20 s supply at 3 kW
  plant.delivered_wh              energy into the AC load in those 20 s
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _session():
    from firmware.charging import table as T
    from hil.rigs.discharge import DischargeRig
    from hil.vehicles.chademo_car import ChademoCar
    b = DischargeRig(car=ChademoCar(soc=70), load_w=3000.0)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING and b.plant.p_ac > 2700, 30000), b.state_names()
    e0_batt, e0_ac = b.plant.e_batt_wh, b.plant.e_ac_wh
    b.run(20000)
    batt, ac = b.plant.e_batt_wh - e0_batt, b.plant.e_ac_wh - e0_ac
    t_stop = b.now
    b.stop()
    assert b.run_until(lambda b: b.state == T.READY_TO_UNPLUG, 20000), b.state_names()
    t_ready = b.states[-1][0]
    released = max(b.hal.gpio[r].changes[-1][0] for r in ("CHADEMO_D1", "CHADEMO_D2", "LOCK_MOTOR"))
    return t_ready - released, t_ready - t_stop, 100.0 * (batt - ac) / batt, ac


def _restart():
    from firmware.charging import table as T
    from hil.rigs.discharge import DischargeRig
    from hil.vehicles.chademo_car import ChademoCar
    b = DischargeRig(car=ChademoCar(soc=70), load_w=2000.0)
    b.run(100)
    b.plug()
    b.run(50)
    b.start()
    b.run(600)
    b.stop()
    b.run(200)
    t0 = b.now
    b.start()
    assert b.run_until(lambda b: b.state == T.SUPPLYING, 30000), b.state_names()
    return b.now - t0


def collect():
    margin, stop_ready, loss, ac = _session()
    return {
        "lifecycle.release_to_ready_ms": {"value": margin, "unit": "ms"},
        "lifecycle.stop_to_ready_ms": {"value": stop_ready, "unit": "ms"},
        "lifecycle.restart_after_stop_ms": {"value": _restart(), "unit": "ms"},
        "plant.losses_pct": {"value": round(loss, 2), "unit": "%"},
        "plant.delivered_wh": {"value": round(ac, 2), "unit": "Wh"},
    }


if __name__ == "__main__":
    for k, v in collect().items():
        print(k, v["value"], v["unit"])
