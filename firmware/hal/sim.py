"""Simulated HAL backend. The bench (hil/) and the tests drive it: they set
inputs, read outputs, move frames and advance the SimClock.

It is MicroPython-compatible too, so the same firmware + sim can run inside
the MicroPython interpreter for the device tests and the MCU cost bench.
"""
from firmware.core.clock import SimClock
from firmware.hal import interface as hi
from firmware.hal import pins


class SimGpio(hi.Gpio):
    def __init__(self, clock, level=0):
        self._clock = clock
        self.level = level
        self.changes = []  # (time_ms, level) history, for reaction-time checks

    def value(self, v=None):
        if v is not None:
            v = 1 if v else 0
            if v != self.level:
                self.changes.append((self._clock.now_ms(), v))
            self.level = v
        return self.level


class SimAdc(hi.Adc):
    def __init__(self, mv=0):
        self.mv = mv

    def read_mv(self):
        return int(self.mv)


class SimPwm(hi.Pwm):
    def __init__(self):
        self.freq_hz = 0
        self.duty_permille = 0

    def set(self, freq_hz, duty_permille):
        if not 0 <= duty_permille <= 1000:
            raise ValueError("duty out of range")
        self.freq_hz = freq_hz
        self.duty_permille = duty_permille


class SimCanPort(hi.CanPort):
    def __init__(self, tx_capacity=64):
        self.rx = []            # frames waiting for the firmware: (id, data, ext)
        self.tx = []            # frames the firmware sent, drained by the bench
        self.tx_capacity = tx_capacity
        self.bus_state = hi.CAN_ERROR_ACTIVE
        self.restarts = 0

    def send(self, can_id, data, extended=False):
        if self.bus_state == hi.CAN_BUS_OFF or len(self.tx) >= self.tx_capacity:
            return False
        self.tx.append((can_id, bytes(data), extended))
        return True

    def recv(self):
        if not self.rx:
            return None
        return self.rx.pop(0)

    def state(self):
        return self.bus_state

    def restart(self):
        self.restarts += 1
        self.bus_state = hi.CAN_ERROR_ACTIVE

    # bench side
    def inject(self, can_id, data, extended=False):
        self.rx.append((can_id, bytes(data), extended))

    def drain(self):
        out = self.tx
        self.tx = []
        return out


class SimFrameLink(hi.FrameLink):
    def __init__(self):
        self.rx = []
        self.tx = []

    def send(self, frame):
        self.tx.append(bytes(frame))
        return True

    def recv(self):
        if not self.rx:
            return None
        return self.rx.pop(0)


class PowerLoss(Exception):
    """Raised by SimFlash when a scheduled power cut tears a write."""


class SimFlash(hi.Flash):
    """NOR flash in RAM. `tear_after_bytes` cuts power part-way through
    the programming of a write (the bytes before it land, the rest do not)."""

    def __init__(self, size=64 * 1024, sector_size=4096):
        if size % sector_size:
            raise ValueError("size must be a multiple of sector_size")
        self.size = size
        self.sector_size = sector_size
        self.mem = bytearray(b"\xff" * size)
        self.tear_after_bytes = None
        self.bytes_written = 0

    def read(self, offset, length):
        if offset < 0 or offset + length > self.size:
            raise ValueError("flash read out of range")
        return bytes(self.mem[offset:offset + length])

    def write(self, offset, data):
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError("flash write out of range")
        for i in range(len(data)):
            if self.tear_after_bytes is not None and self.bytes_written >= self.tear_after_bytes:
                raise PowerLoss("power lost during flash write")
            self.mem[offset + i] &= data[i]  # NOR: programming only clears bits
            self.bytes_written += 1

    def erase(self, sector):
        if not 0 <= sector < self.size // self.sector_size:
            raise ValueError("no such flash sector")
        a = sector * self.sector_size
        for i in range(a, a + self.sector_size):
            self.mem[i] = 0xFF


class SimWatchdog(hi.Watchdog):
    def __init__(self, clock):
        self._clock = clock
        self.timeout_ms = None
        self.last_feed_ms = None

    def start(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.last_feed_ms = self._clock.now_ms()

    def feed(self):
        self.last_feed_ms = self._clock.now_ms()

    def expired(self):
        """Bench side: would the hardware watchdog have reset the MCU by now?"""
        if self.timeout_ms is None:
            return False
        return self._clock.now_ms() - self.last_feed_ms > self.timeout_ms


def make_sim_hal(clock=None):
    """A complete simulated board with every role of the pin map."""
    clock = clock or SimClock()
    gpio = {}
    for role in pins.GPIO_OUT:
        gpio[role] = SimGpio(clock)
    for role, (_pin, active_high) in pins.GPIO_IN.items():
        # inputs idle in their "healthy" state: E-stop loop closed, RCD ok
        gpio[role] = SimGpio(clock, 1 if role in ("ESTOP", "RCD_OK") else 0)
    adc = {role: SimAdc() for role in pins.ADC}
    pwm = {role: SimPwm() for role in pins.PWM}
    can = {role: SimCanPort() for role in pins.CAN}
    return hi.Hal(clock, gpio, adc, pwm, can, SimFrameLink(), SimFlash(), SimWatchdog(clock))
