"""The box application on the sim HAL: boots, heartbeats at the DBC cycle,
feeds the watchdog, recovers the service CAN from bus-off."""
import firmware  # noqa: F401
from firmware.app.box import BoxApp
from firmware.can.gen import box
from firmware.core.clock import SimClock
from firmware.hal import interface as hi
from firmware.hal.sim import make_sim_hal


def _run(app, clock, ms):
    end = clock.now_ms() + ms
    while clock.now_ms() < end:
        app.step()
        clock.set(min(app.next_wake_ms(), end))


def _booted():
    clock = SimClock()
    hal = make_sim_hal(clock)
    app = BoxApp(hal)
    app.boot()
    return app, hal, clock


def test_heartbeat_at_dbc_cycle_with_alive_counter():
    app, hal, clock = _booted()
    _run(app, clock, 1000)
    frames = hal.can["service"].drain()
    hb = [f for f in frames if f[0] == box.ID_BoxHeartbeat]
    period = box.CYCLE_MS[box.ID_BoxHeartbeat]
    assert len(hb) == 1000 // period
    counters = [box.decode(f[0], f[1])["AliveCounter"] for f in hb]
    assert counters == list(range(len(hb)))
    last = box.decode(hb[-1][0], hb[-1][1])
    assert abs(last["UptimeS"] - 0.9) < 0.011
    assert last["SessionState"] == 0 and last["FaultActive"] == 0


def test_watchdog_is_fed_while_the_loop_runs_and_expires_when_it_stalls():
    app, hal, clock = _booted()
    _run(app, clock, 5000)
    assert not hal.wdt.expired()
    clock.advance(600)  # main loop stalled longer than the 500 ms window
    assert hal.wdt.expired()


def test_service_can_bus_off_is_recovered():
    app, hal, clock = _booted()
    port = hal.can["service"]
    port.bus_state = hi.CAN_BUS_OFF
    _run(app, clock, 150)
    assert port.restarts == 1
    assert port.state() == hi.CAN_ERROR_ACTIVE
    _run(app, clock, 300)
    assert len(port.drain()) >= 2
