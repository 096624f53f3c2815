"""The HAL contract, run against BOTH backends: the sim backend and the
board backend (firmware/hal/board.py over stubbed machine/pyb modules that
keep electrical pin levels). `value()` is the logical level of a role; only
the backend knows its polarity (pins.py), so the same electrical situation
must read the same through either backend and through the safety io."""
import pytest

import firmware  # noqa: F401
from firmware.core.clock import SimClock
from firmware.hal import flash_layout as FL
from firmware.hal import interface as hi
from firmware.hal import pins
from firmware.hal.sim import make_chip_storage, make_sim_hal
from firmware.safety.io import SafetyIo
from firmware.safety.supervisor import Meas, Supervisor
from tests.hal import board_stubs


class SimBackend:
    name = "sim"

    def __init__(self, chip=FL.DEFAULT_CHIP):
        self.hal = make_sim_hal(SimClock())
        self.storage = make_chip_storage(chip)

    def set_wire(self, role, level):
        self.hal.gpio[role].pin = level

    def wire(self, role):
        return self.hal.gpio[role].pin


class BoardBackend:
    name = "board"

    def __init__(self, chip=FL.DEFAULT_CHIP):
        self.mods = board_stubs.install(chip)
        self.hal = self.mods.board.make_board_hal(chip)
        self.storage = self.hal.storage

    def _pin(self, role):
        table = pins.GPIO_OUT if role in pins.GPIO_OUT else pins.GPIO_IN
        return self.mods.pins[table[role][0]]

    def set_wire(self, role, level):
        self._pin(role).set_ext(level)

    def wire(self, role):
        return self._pin(role).value()


@pytest.fixture(params=["sim", "board"])
def backend(request):
    b = SimBackend() if request.param == "sim" else BoardBackend()
    yield b
    board_stubs.uninstall()


def _electrical(active_high, logical):
    return logical if active_high else 1 - logical


def test_outputs_start_inactive_and_value_is_logical(backend):
    for role, (_pin, active_high) in pins.GPIO_OUT.items():
        g = backend.hal.gpio[role]
        assert g.value() == 0, role
        assert backend.wire(role) == _electrical(active_high, 0), role
        g.value(1)
        assert g.value() == 1 and backend.wire(role) == _electrical(active_high, 1), role
        g.value(0)
        assert backend.wire(role) == _electrical(active_high, 0), role


def test_inputs_read_the_logical_level(backend):
    for role, (_pin, active_high) in pins.GPIO_IN.items():
        for logical in (0, 1):
            backend.set_wire(role, _electrical(active_high, logical))
            assert backend.hal.gpio[role].value() == logical, (role, logical)


def test_estop_wire_reads_the_same_through_the_safety_io(backend):
    """E-stop loop closed = wire high (pins.py: active low). Before the fix the
    board backend and the io adapter both inverted: a healthy loop read as an
    E-stop on the board only."""
    sup = Supervisor()
    io = SafetyIo(backend.hal, sup)
    m = Meas()
    backend.set_wire("ESTOP", 1)         # loop closed
    backend.set_wire("RCD_OK", 1)
    backend.set_wire("K_DC_POS_AUX", 0)
    io.read(m)
    assert m.estop_ok and m.rcd_ok and not m.aux_pos
    backend.set_wire("ESTOP", 0)         # loop opened
    backend.set_wire("RCD_OK", 0)
    backend.set_wire("K_DC_POS_AUX", 1)
    io.read(m)
    assert not m.estop_ok and not m.rcd_ok and m.aux_pos


def test_cmd_reaches_the_wires_with_the_pin_polarity(backend):
    sup = Supervisor()
    io = SafetyIo(backend.hal, sup)
    c = sup.cmd
    c.k_pos = c.k_neg = c.d1 = c.d2 = c.lock = 1
    io.apply(feed=False)
    for role in ("K_DC_POS", "K_DC_NEG", "CHADEMO_D1", "CHADEMO_D2", "LOCK_MOTOR"):
        assert backend.wire(role) == _electrical(pins.GPIO_OUT[role][1], 1), role
    c.k_pos = c.k_neg = c.d1 = c.d2 = 0
    io.apply(feed=False)
    assert backend.wire("CHADEMO_D2") == _electrical(pins.GPIO_OUT["CHADEMO_D2"][1], 0)


def test_interrupt_fires_when_the_role_becomes_active(backend):
    hits = []
    g = backend.hal.gpio["ESTOP"]
    backend.set_wire("ESTOP", 1)
    g.on_active(lambda p: hits.append(g.value()))
    if backend.name == "sim":
        g.drive_input(1)
    else:
        backend.set_wire("ESTOP", 0)     # the loop opens: falling edge
    assert hits == [1]


def test_storage_partitions_have_the_chip_geometry(backend):
    for chip in FL.CHIPS:
        b = SimBackend(chip) if backend.name == "sim" else BoardBackend(chip)
        for role in ("config", "dtc"):
            f = b.storage[role]
            addr, unit, n = FL.check_partition(chip, role)
            assert f.sector_size == unit and f.size == unit * n
            assert f.program_size == FL.CHIPS[chip][0] and f.program_once == FL.CHIPS[chip][1]
            ps = f.program_size
            f.erase(1)
            assert f.read(unit, 64) == b"\xff" * 64
            f.write(unit + ps, bytes(range(ps)))
            assert f.read(unit + ps, ps) == bytes(range(ps))
            with pytest.raises(ValueError):
                f.write(unit + 1, b"\x00" * ps) if ps > 1 else f.write(-1, b"\x00")
            f.erase(1)
            assert f.read(unit, 2 * ps) == b"\xff" * (2 * ps)


def test_partitions_are_whole_separate_erase_units():
    for chip in FL.CHIPS:
        spans = []
        for role in FL.PARTITIONS[chip]:
            addr, unit, n = FL.check_partition(chip, role)
            assert n >= 2, "a journal needs two erase units"
            spans.append((addr, addr + unit * n))
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            assert a[1] <= b[0], "config and DTC log share an erase unit"


def test_board_erase_hits_only_the_physical_unit_of_the_partition():
    mods = board_stubs.install("STM32H743")
    try:
        hal = mods.board.make_board_hal("STM32H743")
        hal.storage["dtc"].erase(1)
        assert mods.erased_units == [0x08180000 + 0x20000]
    finally:
        board_stubs.uninstall()


def test_flash_errors_are_oserrors():
    assert issubclass(hi.FlashError, OSError)
