"""One simulated discharge session per car profile (firmware SECC + SimPort + scripted EVCC
behaving as the profile's public reports describe). Used by tests/secc and `make bench`
(secc.profiles_passing / secc.profiles_total)."""
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles
from hil.ccs import din_rig

TESLA_NS = "urn:tesla:din:2018:MsgDef"
DIN_NS = "urn:din:70121:2012:MsgDef"


def car_for(name):
    """The scripted car's behaviour for a profile: what the reports say the car does."""
    prof = profiles.get(name)
    car = {"loops": 0, "loop_limit_ms": int((prof["loop_limit_s"] or 20) * 1000)}
    if name == "tesla-din":
        car.update(namespaces=(TESLA_NS, DIN_NS), real_precharge=True, precharge_tol_v=10.0,
                   max_v=418.0, battery_v=360.0, precharge_timeout_ms=12000)
    if name == "nacs-dc-core":
        car.update(energy_transfer="DC_core")
    if name == "audi-q4":
        car.update(bad_isolation=("Invalid", "absent"))
    if name == "mercedes-eqc":
        car.update(max_w=3600.0)
    return car


def run_profile(name, tick_ms=10):
    """-> (ok, why, record). ok: the car discharged (energy out, loop reached) and the
    session ended in order with the link below 60 V, or stopped safely for its reason."""
    cfg = {"profile": name if name != "tesla-din" else "auto"}
    rec, ev, port, secc = din_rig.run(car_for(name), cfg=cfg, port=P.SimPort(), max_ms=700000, tick_ms=tick_ms)
    if rec is None:
        return False, "no session record", rec
    ok = (ev.result == "completed" and rec["energy_wh"] > 0 and not port.closed() and port.inlet_v() < P.SAFE_V
          and rec["profile"] == name)
    return ok, ev.result, rec


def run_all():
    return [(n,) + run_profile(n) for n in profiles.names()]
