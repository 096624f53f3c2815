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
    def value(self, v=None):
        """Read (v is None) or drive the pin; returns the level as 0/1."""
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


class Flash:
    """NOR-flash semantics: erase sets a sector to 0xFF; writes only clear bits."""

    size = 0
    sector_size = 0

    def read(self, offset, length):
        raise NotImplementedError

    def write(self, offset, data):
        raise NotImplementedError

    def erase(self, sector):
        raise NotImplementedError


class Watchdog:
    def start(self, timeout_ms):
        raise NotImplementedError

    def feed(self):
        raise NotImplementedError


class Hal:
    """Container handed to the application: devices by role, plus the clock."""

    def __init__(self, clock, gpio, adc, pwm, can, plc, flash, wdt):
        self.clock = clock      # .now_ms()
        self.gpio = gpio        # dict role -> Gpio
        self.adc = adc          # dict role -> Adc
        self.pwm = pwm          # dict role -> Pwm
        self.can = can          # dict bus -> CanPort ("service", "internal", "vehicle")
        self.plc = plc          # FrameLink to the Green PHY modem
        self.flash = flash      # Flash (config + fault journal partition)
        self.wdt = wdt          # Watchdog
