"""The sim HAL honours the HAL contract (NOR flash, CAN, watchdog, GPIO history)."""
import firmware  # noqa: F401
from firmware.core.clock import SimClock
from firmware.hal import interface as hi
from firmware.hal import pins
from firmware.hal.sim import PowerLoss, SimFlash, make_sim_hal


def test_sim_hal_has_every_role_of_the_pin_map():
    hal = make_sim_hal()
    for role in pins.GPIO_OUT:
        assert hal.gpio[role].value() == 0, role   # outputs start de-energised
    assert hal.gpio["ESTOP"].value() == 0           # E-stop not asserted (logical level)
    assert hal.gpio["ESTOP"].pin == 1               # ... the loop closed pulls the wire high
    for role in pins.ADC:
        assert hal.adc[role].read_mv() == 0
    assert set(hal.can) == set(pins.CAN)


def test_flash_has_nor_semantics():
    f = SimFlash(size=8192, sector_size=4096)
    f.write(10, b"\x0f")
    f.write(10, b"\xf0")          # programming only clears bits
    assert f.read(10, 1) == b"\x00"
    f.erase(0)
    assert f.read(10, 1) == b"\xff"
    for bad in (lambda: f.read(8190, 4), lambda: f.write(-1, b"x"), lambda: f.erase(2)):
        try:
            bad()
            assert False
        except ValueError:
            pass


def test_flash_tear_keeps_only_bytes_before_the_cut():
    f = SimFlash(size=4096, sector_size=4096)
    f.tear_after_bytes = 3
    try:
        f.write(0, b"\x01\x02\x03\x04\x05")
        assert False
    except PowerLoss:
        pass
    assert f.read(0, 5) == b"\x01\x02\x03\xff\xff"


def test_can_port_queues_and_bus_off():
    hal = make_sim_hal()
    p = hal.can["service"]
    assert p.send(0x123, b"\x01")
    assert p.drain() == [(0x123, b"\x01", False)]
    p.bus_state = hi.CAN_BUS_OFF
    assert not p.send(0x123, b"\x01")
    p.restart()
    assert p.state() == hi.CAN_ERROR_ACTIVE
    p.inject(0x200, b"\xaa", True)
    assert p.recv() == (0x200, b"\xaa", True)
    assert p.recv() is None


def test_watchdog_expires_without_feeding():
    clk = SimClock()
    hal = make_sim_hal(clk)
    hal.wdt.start(500)
    clk.advance(400)
    hal.wdt.feed()
    clk.advance(500)
    assert not hal.wdt.expired()
    clk.advance(1)
    assert hal.wdt.expired()


def test_gpio_records_changes_with_time():
    clk = SimClock()
    hal = make_sim_hal(clk)
    k = hal.gpio["K_DC_POS"]
    clk.advance(7)
    k.value(1)
    k.value(1)
    clk.advance(3)
    k.value(0)
    assert k.changes == [(7, 1), (10, 0)]
