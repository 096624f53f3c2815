"""STM32 board backend (MicroPython `machine` / `pyb`). Device only.

Type-checked with pyright against micropython-stm32-stubs (`make test`
runs the check). It cannot be exercised on the host; everything above it
is tested through `sim`, which honours the same contract.
"""
import time

import machine
import pyb
from micropython import const

from firmware.core.clock import TicksUnwrapper
from firmware.hal import interface as hi
from firmware.hal import pins

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


# QCA7000-class Green PHY modem over SPI (framing per the QCA7000 SPI
# interface: 16-bit command words, bit 15 = read, bit 14 = internal register).
_QCA_READ = const(0x8000)
_QCA_INTERNAL = const(0x4000)
_QCA_REG_BFR_SIZE = const(0x0100)
_QCA_REG_WRBUF_SPC_AVA = const(0x0200)
_QCA_REG_RDBUF_BYTE_AVA = const(0x0300)
_QCA_SOF = b"\xaa\xaa\xaa\xaa"
_QCA_EOF = b"\x55\x55"
_ETH_MAX = const(1522)


class QcaSpiLink(hi.FrameLink):
    def __init__(self, spi_id, baudrate, cs_pin):
        self._spi = machine.SPI(spi_id, baudrate=baudrate, polarity=1, phase=1)
        self._cs = machine.Pin(cs_pin, machine.Pin.OUT, value=1)
        self._cmd = bytearray(2)
        self._reg = bytearray(2)

    def _read_reg(self, reg):
        c = _QCA_READ | _QCA_INTERNAL | reg
        self._cmd[0] = c >> 8
        self._cmd[1] = c & 0xFF
        self._cs.value(0)
        self._spi.write(self._cmd)
        self._spi.readinto(self._reg)
        self._cs.value(1)
        return (self._reg[0] << 8) | self._reg[1]

    def _write_reg(self, reg, value):
        c = _QCA_INTERNAL | reg
        self._cs.value(0)
        self._spi.write(bytes((c >> 8, c & 0xFF, value >> 8, value & 0xFF)))
        self._cs.value(1)

    def send(self, frame):
        n = len(frame)
        if n > _ETH_MAX:
            raise ValueError("frame too long")
        total = n + 10  # SOF(4) + FL(2) + RSVD(2) + frame + EOF(2)
        if self._read_reg(_QCA_REG_WRBUF_SPC_AVA) < total:
            return False
        self._write_reg(_QCA_REG_BFR_SIZE, total)
        self._cs.value(0)
        self._spi.write(b"\x00\x00")  # external write command
        self._spi.write(_QCA_SOF + bytes((n & 0xFF, n >> 8, 0, 0)))
        self._spi.write(frame)
        self._spi.write(_QCA_EOF)
        self._cs.value(1)
        return True

    def recv(self):
        avail = self._read_reg(_QCA_REG_RDBUF_BYTE_AVA)
        if avail < 14:
            return None
        self._write_reg(_QCA_REG_BFR_SIZE, avail)
        buf = bytearray(avail)
        self._cs.value(0)
        self._spi.write(b"\x80\x00")  # external read command
        self._spi.readinto(buf)
        self._cs.value(1)
        # 4-byte length word, then SOF, FL, RSVD, frame, EOF
        if buf[4:8] != _QCA_SOF:
            return None  # desynchronised; drop (the modem resends SLAC/IP frames)
        n = buf[8] | (buf[9] << 8)
        if 12 + n + 2 > avail or buf[12 + n:14 + n] != _QCA_EOF:
            return None
        return bytes(buf[12:12 + n])


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
    plc = QcaSpiLink(spi_id, baud, "B12")
    flash = BoardFlash(pins.FLASH_PARTITION[0], pins.FLASH_PARTITION[1])
    return hi.Hal(clock, gpio, adc, pwm, can, plc, flash, BoardWatchdog())
