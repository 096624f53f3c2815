"""The HAL contract. Backends subclass these (no abc on MicroPython, so
unimplemented methods raise NotImplementedError).

A `Hal` bundles the devices by role name, so application code says
`hal.gpio["K_DC_POS"]`, never a pin number (the pin map is `pins.py`).
"""
from micropython import const

# CAN controller states (ISO 11898-1 fault confinement)
CAN_ERROR_ACTIVE = const(0)
CAN_ERROR_WARNING = const(1)
CAN_ERROR_PASSIVE = const(2)
CAN_BUS_OFF = const(3)

CAN_STATE_NAMES = ("error-active", "error-warning", "error-passive", "bus-off")


class Gpio:
    """One meaning of a pin value: `value()` is the LOGICAL level of the role,
    1 = the role is active as its name says (K_DC_POS 1 = coil energised,
    ESTOP 1 = E-stop asserted / loop open, RCD_OK 1 = RCD armed). Only the
    backends know the electrical polarity (pins.py active_high); nothing
    above the HAL ever inverts a level."""

    def value(self, v=None):
        """Read (v is None) or drive the role; returns the logical level 0/1."""
        raise NotImplementedError

    def on_active(self, handler):
        """Call handler(pin) from an interrupt when the role becomes active."""
        raise NotImplementedError


class Adc:
    def read_mv(self):
        """Calibrated reading at the MCU pin, in millivolts (int)."""
        raise NotImplementedError


class Pwm:
    def set(self, freq_hz, duty_permille):
        """Frequency in Hz and duty in 1/1000 (control pilot: 1 kHz, 0..1000)."""
        raise NotImplementedError


class CanPort:
    def send(self, can_id, data, extended=False):
        """Queue a frame; returns False if the TX mailboxes are full (never blocks)."""
        raise NotImplementedError

    def recv(self):
        """Next received frame as (can_id, data, extended) or None."""
        raise NotImplementedError

    def state(self):
        """One of CAN_ERROR_ACTIVE .. CAN_BUS_OFF."""
        raise NotImplementedError

    def restart(self):
        """Leave bus-off (after the 128 x 11 recessive bits recovery)."""
        raise NotImplementedError


class FrameLink:
    """Raw Ethernet frames to/from the HomePlug Green PHY modem (SPI on the board)."""

    def send(self, frame):
        raise NotImplementedError

    def recv(self):
        """Next received frame (bytes) or None."""
        raise NotImplementedError


class FlashError(OSError):
    """A program or erase the flash controller reported as failed."""


class Flash:
    """NOR-flash semantics: erase sets a sector (= one physical erase unit)
    to 0xFF; writes only clear bits. `program_size` is the program unit:
    writes start and end on multiples of it, and on chips with ECC
    (`program_once`) each unit is programmed at most once per erase.
    Errors raise OSError (FlashError); callers verify by reading back."""

    size = 0
    sector_size = 0
    program_size = 1
    program_once = False

    def read(self, offset, length):
        raise NotImplementedError

    def write(self, offset, data):
        raise NotImplementedError

    def erase(self, sector):
        raise NotImplementedError


class FlashView(Flash):
    """Sectors [first, first + n) of another Flash, addressed from 0: one
    partition (config, DTC log) that owns whole erase units."""

    def __init__(self, flash, first, n):
        if first < 0 or n < 1 or (first + n) * flash.sector_size > flash.size:
            raise ValueError("partition outside the flash")
        self.base = flash
        self.first = first
        self.sector_size = flash.sector_size
        self.size = n * flash.sector_size
        self.program_size = flash.program_size
        self.program_once = flash.program_once
        self._off = first * flash.sector_size

    def _check(self, offset, length):
        if offset < 0 or offset + length > self.size:
            raise ValueError("outside the partition")

    def read(self, offset, length):
        self._check(offset, length)
        return self.base.read(self._off + offset, length)

    def write(self, offset, data):
        self._check(offset, len(data))
        self.base.write(self._off + offset, data)

    def erase(self, sector):
        if not 0 <= sector < self.size // self.sector_size:
            raise ValueError("no such sector in the partition")
        self.base.erase(self.first + sector)


class Watchdog:
    def start(self, timeout_ms):
        raise NotImplementedError

    def feed(self):
        raise NotImplementedError


class Hal:
    """Container handed to the application: devices by role, plus the clock."""

    def __init__(self, clock, gpio, adc, pwm, can, plc, flash, wdt, storage=None):
        self.clock = clock      # .now_ms()
        self.gpio = gpio        # dict role -> Gpio
        self.adc = adc          # dict role -> Adc
        self.pwm = pwm          # dict role -> Pwm
        self.can = can          # dict bus -> CanPort ("service", "internal", "vehicle")
        self.plc = plc          # FrameLink to the Green PHY modem
        self.flash = flash      # Flash (config + fault journal partition)
        self.wdt = wdt          # Watchdog
        # storage partitions by role ("config", "dtc"), each owning whole
        # erase units; derived from `flash` (sectors 0-1 / 2-5) if not given
        if storage is None:
            storage = {"config": FlashView(flash, 0, 2), "dtc": FlashView(flash, 2, 4)}
        self.storage = storage
