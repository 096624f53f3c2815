"""Stand-ins for MicroPython's `machine`, `pyb` and `time` on the STM32 port,
just deep enough to run firmware/hal/board.py on CPython: pins keep their
ELECTRICAL level (what a scope on the MCU pin would show), the flash is a
byte array with the physical erase units of the chosen chip.

    mods = install(chip="STM32F767")    # puts machine/pyb into sys.modules
    board = mods.board                  # firmware.hal.board, freshly imported
    mods.pins["E4"].ext = 0             # the E-stop loop opens: wire low
"""
import importlib
import sys
import types

from firmware.hal import flash_layout as FL


class _Pin:
    IN = 0
    OUT = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, reg, pid, mode=0, value=None):
        self.id = pid
        self.mode = mode
        self.out = 0 if value is None else value
        self.ext = 0              # level applied from outside (inputs)
        self.irq_args = None
        self.history = []         # output levels driven, in order
        if value is not None:
            self.history.append(value)
        reg[pid] = self

    def value(self, v=None):
        if v is None:
            return self.out if self.mode == self.OUT else self.ext
        self.out = 1 if v else 0
        self.history.append(self.out)
        return None

    def irq(self, handler=None, trigger=0, hard=False):
        self.irq_args = (handler, trigger, hard)

    def set_ext(self, level):
        """Drive an input wire; fires the bound IRQ on the matching edge."""
        old, self.ext = self.ext, level
        if self.irq_args and old != level:
            h, trig, _hard = self.irq_args
            if (trig & self.IRQ_FALLING and old and not level) or (trig & self.IRQ_RISING and level and not old):
                h(self)


class Mods:
    pass


def install(chip=FL.DEFAULT_CHIP, reset_cause=1, ticks=None):
    m = Mods()
    m.pins = {}
    m.timers = []
    m.flash_mem = bytearray(b"\xff" * (2 * 1024 * 1024))
    m.erased_units = []
    m.ticks = ticks if ticks is not None else [0]
    regs = m.pins

    machine = types.ModuleType("machine")

    def Pin(pid, mode=0, value=None):
        # one physical pin: a second Pin() on the same id reconfigures it (as on the MCU)
        p = regs.get(pid)
        if p is None:
            return _Pin(regs, pid, mode, value)
        p.mode = mode
        if value is not None:
            p.value(value)
        return p
    Pin.IN, Pin.OUT, Pin.IRQ_FALLING, Pin.IRQ_RISING = 0, 1, 1, 2
    machine.Pin = Pin

    class ADC:
        def __init__(self, pin):
            self.pin = pin
            self.u16 = 0

        def read_u16(self):
            return self.u16
    machine.ADC = ADC

    class CAN:
        STATE_STOPPED, STATE_ACTIVE, STATE_WARNING, STATE_PASSIVE, STATE_BUS_OFF = range(5)
        FLAG_EXT_ID = 4

        def __init__(self, idx):
            self.idx = idx

        def init(self, bitrate):
            self.bitrate = bitrate

        def set_filters(self, f):
            pass

        def send(self, *a):
            return 0

        def recv(self, buf):
            return None

        def state(self):
            return self.STATE_ACTIVE

        def restart(self):
            pass
    machine.CAN = CAN

    class SPI:
        def __init__(self, *a, **k):
            pass

        def write(self, b):
            pass

        def readinto(self, b):
            for i in range(len(b)):
                b[i] = 0
    machine.SPI = SPI

    class WDT:
        def __init__(self, timeout):
            self.timeout = timeout
            self.feeds = 0

        def feed(self):
            self.feeds += 1
    machine.WDT = WDT

    class Timer:
        PERIODIC = 1

        def __init__(self, tid=-1, period=None, mode=None, callback=None, freq=None):
            self.period = period
            self.callback = callback
            m.timers.append(self)

        def deinit(self):
            self.callback = None
    machine.Timer = Timer
    machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET, machine.SOFT_RESET = 1, 2, 3, 5
    machine.reset_cause = lambda: reset_cause

    pyb = types.ModuleType("pyb")

    class PybPin:
        def __init__(self, name):
            self.name = name
    pyb.Pin = PybPin

    class Channel:
        def __init__(self):
            self.width = 0

        def pulse_width(self, w=None):
            if w is not None:
                self.width = w
            return self.width

        def pulse_width_percent(self, p):
            self.width = p
    class PybTimer:
        PWM = 1

        def __init__(self, n, freq=1000):
            self._freq = freq
            self.ch = Channel()

        def channel(self, n, mode, pin=None, pulse_width_percent=0):
            return self.ch

        def freq(self, f=None):
            if f is not None:
                self._freq = f
            return self._freq

        def period(self):
            return 107999       # 108 MHz / 1 kHz - 1
    pyb.Timer = PybTimer

    class Flash:
        """pyb.Flash(start=, len=): extended block protocol over flash_mem."""

        def __init__(self, start=0, len=0):
            self.start = start
            self.len = len

        def ioctl(self, op, arg):
            if op == 5:
                return 512
            if op == 4:
                return self.len // 512
            if op == 6:
                addr = FL.FLASH_BASE + self.start + arg * 512
                for base, size in FL.erase_units(chip):
                    if base <= addr < base + size:
                        off = base - FL.FLASH_BASE
                        m.flash_mem[off:off + size] = b"\xff" * size
                        m.erased_units.append(base)
                        return 0
                return -5
            return 0

        def readblocks(self, block, buf, off=0):
            a = self.start + block * 512 + off
            buf[:] = m.flash_mem[a:a + len(buf)]

        def writeblocks(self, block, buf, off=0):
            a = self.start + block * 512 + off
            for i in range(len(buf)):
                m.flash_mem[a + i] &= buf[i]
    pyb.Flash = Flash

    fake_time = types.ModuleType("time")
    fake_time.ticks_ms = lambda: m.ticks[0]
    fake_time.ticks_diff = lambda a, b: ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)
    fake_time.ticks_us = lambda: m.ticks[0] * 1000
    fake_time.sleep_ms = lambda ms: None

    sys.modules["machine"] = machine
    sys.modules["pyb"] = pyb
    sys.modules.pop("firmware.hal.board", None)
    m.board = importlib.import_module("firmware.hal.board")
    m.board.time = fake_time
    m.machine, m.pyb, m.time = machine, pyb, fake_time
    return m


def uninstall():
    for name in ("machine", "pyb", "firmware.hal.board"):
        sys.modules.pop(name, None)
