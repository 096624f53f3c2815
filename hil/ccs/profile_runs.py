"""One simulated discharge session per car profile (firmware SECC + SimPort + scripted EVCC
behaving as the profile's public reports describe). Used by tests/secc and `make bench`
(secc.profiles_passing / secc.profiles_total).

The car offers the protocols its profile lists (profiles.py `protocols`); `protocol` picks
which one the box prefers (its SupportedAppProtocol order), so a car that offers ISO 15118-2
is discharged over ISO-2 when the box puts ISO-2 first, over DIN otherwise."""
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles, sap
from hil.ccs import din_rig

TESLA_NS = sap.TESLA_NAMESPACE
DIN_NS = sap.PROTOCOLS["din"][0]
ISO2_NS = sap.PROTOCOLS["iso2"][0]


def namespaces(protocols):
    """Profile protocol names -> the namespaces the car offers, same order."""
    return tuple(TESLA_NS if p == "tesla" else sap.PROTOCOLS[p][0] for p in protocols)


def car_for(name):
    """The scripted car's behaviour for a profile: what the reports say the car does."""
    prof = profiles.get(name)
    car = {"loops": 0, "loop_limit_ms": int((prof["loop_limit_s"] or 20) * 1000),
           "namespaces": namespaces(prof["protocols"])}
    if name == "tesla-din":
        car.update(real_precharge=True, precharge_tol_v=10.0,
                   max_v=418.0, battery_v=360.0, precharge_timeout_ms=12000)
    if name == "nacs-dc-core":
        car.update(energy_transfer="DC_core")
    if name == "audi-q4":
        car.update(bad_isolation=("Invalid", "absent"))
    if name == "mercedes-eqc":
        car.update(max_w=3600.0)
    return car


def box_cfg(name, protocol="din"):
    """The box's settings for a profile run: the profile (Tesla by recognition) and
    `protocol` first in the SupportedAppProtocol order."""
    order = (protocol,) + tuple(p for p in sap.DEFAULT_ORDER if p != protocol)
    return {"profile": name if name != "tesla-din" else "auto", "protocols": order}


def runs():
    """Every (profile, protocol) pair a profile's car offers and the box implements."""
    return [(n, p) for n in profiles.names() for p in profiles.get(n)["protocols"] if p in ("din", "iso2")]


def run_profile(name, tick_ms=10, protocol="din"):
    """-> (ok, why, record). ok: the car discharged (energy out, loop reached) over `protocol`
    and the session ended in order with the link below 60 V, or stopped safely for its reason."""
    rec, ev, port, secc = din_rig.run(car_for(name), cfg=box_cfg(name, protocol), port=P.SimPort(),
                                      max_ms=700000, tick_ms=tick_ms)
    if rec is None:
        return False, "no session record", rec
    ok = (ev.result == "completed" and rec["energy_wh"] > 0 and not port.closed() and port.inlet_v() < P.SAFE_V
          and rec["profile"] == name and rec["protocol"] == protocol and ev.protocol == protocol)
    return ok, ev.result, rec


def run_all():
    return [(n,) + run_profile(n) for n in profiles.names()]
