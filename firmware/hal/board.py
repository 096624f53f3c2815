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


class BoardGpio(hi.Gpio):
    def __init__(self, pin, active_high, output):
        mode = machine.Pin.OUT if output else machine.Pin.IN
        self._pin = machine.Pin(pin, mode)
        self._inv = 0 if active_high else 1
        if output:
            self._pin.value(self._inv)  # outputs start inactive (de-energised)

    def value(self, v=None):
        if v is not None:
            self._pin.value((1 if v else 0) ^ self._inv)
        return self._pin.value() ^ self._inv


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

    def set(self, freq_hz, duty_permille):
        if not 0 <= duty_permille <= 1000:
            raise ValueError("duty out of range")
        self._tim.freq(freq_hz)
        self._ch.pulse_width_percent(duty_permille / 10)


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
    """A raw partition of the internal flash via pyb.Flash's block protocol."""

    def __init__(self, start, length):
        self._dev = pyb.Flash(start=start, len=length)
        sec = self._dev.ioctl(5, 0)  # BP_IOCTL_SEC_SIZE
        count = self._dev.ioctl(4, 0)  # BP_IOCTL_SEC_COUNT
        if not sec or not count:
            raise OSError("flash partition not available")
        self.sector_size = sec
        self.size = count * sec

    def read(self, offset, length):
        buf = bytearray(length)
        self._dev.readblocks(offset // self.sector_size, buf, offset % self.sector_size)
        return bytes(buf)

    def write(self, offset, data):
        self._dev.writeblocks(offset // self.sector_size, data, offset % self.sector_size)

    def erase(self, sector):
        self._dev.ioctl(6, sector)  # BP_IOCTL_SEC_ERASE


class BoardWatchdog(hi.Watchdog):
    def __init__(self):
        self._wdt = None

    def start(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        if self._wdt is not None:
            self._wdt.feed()


def make_board_hal():
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
    flash = BoardFlash(pins.FLASH_PARTITION[0], pins.FLASH_PARTITION[1])
    return hi.Hal(clock, gpio, adc, pwm, can, plc, flash, BoardWatchdog())
