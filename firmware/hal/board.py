"""STM32 board backend (MicroPython `machine` / `pyb`). Device only.

Type-checked with pyright against micropython-stm32-stubs (`make test`
runs the check). It cannot be exercised on the host; everything above it
is tested through `sim`, which honours the same contract.
"""
import time

import machine
import micropython
import pyb

from firmware.core.clock import TicksUnwrapper
from firmware.hal import flash_layout as FL
from firmware.hal import interface as hi
from firmware.hal import pins
from firmware.hal.qca7000 import Qca7000

# machine.CAN.state() -> HAL state (STATE_STOPPED counts as bus-off: no traffic possible)
_CAN_STATE = {
    machine.CAN.STATE_STOPPED: hi.CAN_BUS_OFF,
    machine.CAN.STATE_ACTIVE: hi.CAN_ERROR_ACTIVE,
    machine.CAN.STATE_WARNING: hi.CAN_ERROR_WARNING,
    machine.CAN.STATE_PASSIVE: hi.CAN_ERROR_PASSIVE,
    machine.CAN.STATE_BUS_OFF: hi.CAN_BUS_OFF,
}


class BoardClock:
    def __init__(self):
        self._u = TicksUnwrapper(time.ticks_ms, time.ticks_diff)

    def now_ms(self):
        return self._u.now_ms()

    def irq_now_ms(self):
        return self._u.irq_now_ms()


class BoardGpio(hi.Gpio):
    """The only place a pin's polarity is applied: value() is logical."""

    def __init__(self, pin, active_high, output):
        self._inv = 0 if active_high else 1
        if output:
            # created driving the inactive level: no glitch on the coil drivers
            self._pin = machine.Pin(pin, machine.Pin.OUT, value=self._inv)
        else:
            self._pin = machine.Pin(pin, machine.Pin.IN)

    def value(self, v=None):
        if v is not None:
            self._pin.value((1 if v else 0) ^ self._inv)
        return self._pin.value() ^ self._inv

    def on_active(self, handler):
        """Call handler(pin) from the pin interrupt on the edge that makes the
        role active (falling edge for an active-low input)."""
        trig = machine.Pin.IRQ_FALLING if self._inv else machine.Pin.IRQ_RISING
        self._pin.irq(handler=handler, trigger=trig, hard=True)


class BoardAdc(hi.Adc):
    def __init__(self, pin):
        self._adc = machine.ADC(machine.Pin(pin))

    def read_mv(self):
        # 16-bit normalised reading, 3.3 V reference
        return (self._adc.read_u16() * 3300) >> 16


class BoardPwm(hi.Pwm):
    def __init__(self, pin, channel):
        self._pin = pyb.Pin(pin)
        self._tim = pyb.Timer(1, freq=1000)
        self._ch = self._tim.channel(channel, pyb.Timer.PWM, pin=self._pin, pulse_width_percent=100)
        self._freq = 1000

    def set(self, freq_hz, duty_permille):
        """Integer arithmetic only: also called from the E-stop / stall
        interrupt paths (state F), where a hard IRQ must not allocate."""
        if not 0 <= duty_permille <= 1000:
            raise ValueError("duty out of range")
        if freq_hz != self._freq:
            self._tim.freq(freq_hz)
            self._freq = freq_hz
        self._ch.pulse_width((self._tim.period() + 1) * duty_permille // 1000)


class BoardCanPort(hi.CanPort):
    """machine.CAN (MicroPython >= 1.28). recv() reuses one list + buffer: no
    allocation per frame except the bytes copy handed to the dispatcher."""

    def __init__(self, index, bitrate):
        self._can = machine.CAN(index)
        self._can.init(bitrate)
        self._can.set_filters(None)  # receive all; dispatch filters by ID in software
        self._rx = [0, memoryview(bytearray(8)), 0, 0]

    def send(self, can_id, data, extended=False):
        flags = machine.CAN.FLAG_EXT_ID if extended else 0
        return self._can.send(can_id, data, flags) is not None

    def recv(self):
        r = self._can.recv(self._rx)
        if r is None:
            return None
        return (r[0], bytes(r[1]), bool(r[2] & machine.CAN.FLAG_EXT_ID))

    def state(self):
        return _CAN_STATE.get(self._can.state(), hi.CAN_BUS_OFF)

    def restart(self):
        self._can.restart()


class QcaSpiBus:
    """machine.SPI + chip select for firmware.hal.qca7000 (mode 3, as the QCA7000 needs)."""

    def __init__(self, spi_id, baudrate, cs_pin):
        self._spi = machine.SPI(spi_id, baudrate=baudrate, polarity=1, phase=1)
        self._cs = machine.Pin(cs_pin, machine.Pin.OUT, value=1)

    def xfer(self, tx, rx_len):
        buf = bytearray(rx_len)
        self._cs.value(0)
        try:
            self._spi.write(tx)
            if rx_len:
                self._spi.readinto(buf)
        finally:
            self._cs.value(1)
        return bytes(buf)


def make_qca_link(spi_id, baudrate, cs_pin, irq_pin):
    """The QCA7000 driver on the board: serviced from the modem's interrupt
    line (falling edge) through micropython.schedule, never in the ISR."""
    link = Qca7000(QcaSpiBus(spi_id, baudrate, cs_pin))
    link.start()
    irq = machine.Pin(irq_pin, machine.Pin.IN)
    irq.irq(handler=lambda _p: micropython.schedule(lambda _a: link.service(), 0),
            trigger=machine.Pin.IRQ_FALLING)
    return link


class BoardFlash(hi.Flash):
    """One storage partition of the internal flash (whole erase units, see
    flash_layout) through pyb.Flash(start=, len=)'s extended block protocol:
    readblocks/writeblocks at a byte offset inside a 512 B block, and
    ioctl(6, block) (BP_IOCTL_SEC_ERASE) erasing the physical sector that
    holds the block. `sector_size` is the physical erase unit, never the
    block device's 512 B block."""

    def __init__(self, chip, role):
        addr, unit, n = FL.check_partition(chip, role)
        self._dev = pyb.Flash(start=addr - FL.FLASH_BASE, len=unit * n)
        blk = self._dev.ioctl(5, 0)  # BP_IOCTL_SEC_SIZE
        count = self._dev.ioctl(4, 0)  # BP_IOCTL_SEC_COUNT
        if not blk or not count or blk * count != unit * n or unit % blk:
            raise OSError("flash partition %s not available" % role)
        self._blk = blk
        self.sector_size = unit
        self.size = unit * n
        self.program_size = FL.CHIPS[chip][0]
        self.program_once = FL.CHIPS[chip][1]

    def read(self, offset, length):
        buf = bytearray(length)
        self._dev.readblocks(offset // self._blk, buf, offset % self._blk)
        return bytes(buf)

    def write(self, offset, data):
        ps = self.program_size
        if offset % ps or len(data) % ps:
            raise ValueError("flash write not aligned to the program unit")
        self._dev.writeblocks(offset // self._blk, data, offset % self._blk)

    def erase(self, sector):
        if not 0 <= sector < self.size // self.sector_size:
            raise ValueError("no such flash sector")
        if self._dev.ioctl(6, sector * self.sector_size // self._blk):
            raise hi.FlashError("flash erase error")


class BoardWatchdog(hi.Watchdog):
    def __init__(self):
        self._wdt = None

    def start(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()


def make_board_hal(chip=FL.DEFAULT_CHIP):
    clock = BoardClock()
    gpio = {}
    for role, (pin, active_high) in pins.GPIO_OUT.items():
        gpio[role] = BoardGpio(pin, active_high, True)
    for role, (pin, active_high) in pins.GPIO_IN.items():
        gpio[role] = BoardGpio(pin, active_high, False)
    adc = {role: BoardAdc(pin) for role, (pin, _scale) in pins.ADC.items()}
    pwm = {role: BoardPwm(pin, ch) for role, (pin, ch) in pins.PWM.items()}
    can = {role: BoardCanPort(idx, rate) for role, (idx, rate) in pins.CAN.items()}
    spi_id, baud = pins.SPI_PLC
    plc = make_qca_link(spi_id, baud, "B12", pins.GPIO_IN["PLC_IRQ"][0])
    storage = {role: BoardFlash(chip, role) for role in FL.PARTITIONS[chip]}
    return hi.Hal(clock, gpio, adc, pwm, can, plc, storage["dtc"], BoardWatchdog(), storage)
