"""Simulated HAL backend. The bench (hil/) and the tests drive it: they set
inputs, read outputs, move frames and advance the SimClock.

It is MicroPython-compatible too, so the same firmware + sim can run inside
the MicroPython interpreter for the device tests and the MCU cost bench.
"""
from firmware.core.clock import SimClock
from firmware.hal import interface as hi
from firmware.hal import pins


class SimGpio(hi.Gpio):
    """`level` is the logical level (the HAL contract); `pin` is the
    electrical level at the MCU pin, derived from the role's polarity, so
    the contract tests can drive and read the wire as on the board."""

    def __init__(self, clock, level=0, active_high=True):
        self._clock = clock
        self.level = level
        self.active_high = active_high
        self.changes = []  # (time_ms, level) history, for reaction-time checks

    def on_active(self, handler):
        self.irq_handler = handler

    def drive_input(self, level):
        """Bench side: set an input's logical level; the edge to active runs
        the bound interrupt handler, as the board's pin IRQ would."""
        was = self.level
        self.level = 1 if level else 0
        h = getattr(self, "irq_handler", None)
        if self.level and not was and h is not None:
            h(self)

    @property
    def pin(self):
        return self.level if self.active_high else 1 - self.level

    @pin.setter
    def pin(self, lvl):
        lvl = 1 if lvl else 0
        self.level = lvl if self.active_high else 1 - lvl

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


class PowerLoss(BaseException):
    """Raised by SimFlash when a scheduled power cut tears a write or an erase.
    A BaseException: the firmware's containment of flash errors (`except
    Exception`/`OSError`) must not swallow a simulated loss of power."""


class SimFlash(hi.Flash):
    """NOR flash in RAM with the geometry of a real part.

    sector_size    the physical erase unit
    program_size   the program unit (writes aligned to it); `program_once`
                   (ECC flash words, STM32H7) refuses a second program of a
                   unit before its erase
    Fault injection (bench/tests):
    tear_after_bytes   power cut after this many programmed bytes (the
                       bytes before land; with ECC the torn unit reads as
                       garbage)
    tear_erase_at      power cut during the n-th erase (counted in
                       `erases`): the first half of the sector is erased,
                       the rest keeps its old bytes
    fail_writes        the next n writes raise FlashError after programming
                       half of their bytes (no power cut)
    fail_erases        the next n erases return without error but leave
                       the sector's second half unerased (caught only by a
                       read-back verify)
    """

    def __init__(self, size=64 * 1024, sector_size=4096, program_size=1, program_once=False):
        if size % sector_size or sector_size % program_size:
            raise ValueError("size must be a multiple of sector_size, sector_size of program_size")
        self.size = size
        self.sector_size = sector_size
        self.program_size = program_size
        self.program_once = program_once
        self.mem = bytearray(b"\xff" * size)
        self._used = bytearray(size // program_size) if program_once else None
        self.tear_after_bytes = None
        self.tear_erase_at = None
        self.fail_writes = 0
        self.fail_erases = 0
        self.bytes_written = 0
        self.erases = 0

    def read(self, offset, length):
        if offset < 0 or offset + length > self.size:
            raise ValueError("flash read out of range")
        return bytes(self.mem[offset:offset + length])

    def write(self, offset, data):
        n = len(data)
        ps = self.program_size
        if offset < 0 or offset + n > self.size:
            raise ValueError("flash write out of range")
        if offset % ps or n % ps:
            raise ValueError("flash write not aligned to the %d-byte program unit" % ps)
        if self._used is not None:
            for u in range(offset // ps, (offset + n) // ps):
                if self._used[u]:
                    raise hi.FlashError("flash word programmed twice (ECC)")
        fail_at = n
        if self.fail_writes:
            self.fail_writes -= 1
            fail_at = n // 2
        for i in range(n):
            if i == fail_at or (self.tear_after_bytes is not None
                                and self.bytes_written >= self.tear_after_bytes):
                self._torn_unit(offset + i)
                if i == fail_at:
                    raise hi.FlashError("flash program error")
                raise PowerLoss("power lost during flash write")
            a = offset + i
            self.mem[a] &= data[i]  # NOR: programming only clears bits
            if self._used is not None:
                self._used[a // ps] = 1
            self.bytes_written += 1

    def _torn_unit(self, a):
        """A program unit cut part-way: with ECC the whole word is unusable
        (garbage, and already programmed); without ECC the bytes before the
        cut landed, the rest did not."""
        if self._used is None:
            return
        ps = self.program_size
        u = a // ps
        if a % ps or self._used[u]:
            for i in range(u * ps, u * ps + ps):
                self.mem[i] &= 0x5A ^ (i & 0xFF)
            self._used[u] = 1

    def erase(self, sector):
        if not 0 <= sector < self.size // self.sector_size:
            raise ValueError("no such flash sector")
        a = sector * self.sector_size
        n = self.sector_size
        self.erases += 1
        end = a + n
        torn = self.tear_erase_at is not None and self.erases >= self.tear_erase_at
        failed = not torn and self.fail_erases > 0
        if torn or failed:
            end = a + n // 2
            if failed:
                self.fail_erases -= 1
        for i in range(a, end):
            self.mem[i] = 0xFF
        if self._used is not None:
            ps = self.program_size
            for u in range(a // ps, end // ps):
                self._used[u] = 0
        if torn:
            raise PowerLoss("power lost during flash erase")


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


def make_chip_storage(chip):
    """SimFlash partitions with the geometry of a target chip's storage
    partitions (firmware.hal.flash_layout): {"config": SimFlash, "dtc": SimFlash}."""
    from firmware.hal import flash_layout as FL
    ps, ecc = FL.CHIPS[chip][0], FL.CHIPS[chip][1]
    out = {}
    for role in FL.PARTITIONS[chip]:
        _addr, unit, n = FL.check_partition(chip, role)
        out[role] = SimFlash(unit * n, unit, ps, ecc)
    return out


def make_sim_hal(clock=None):
    """A complete simulated board with every role of the pin map."""
    clock = clock or SimClock()
    gpio = {}
    for role, (_pin, active_high) in pins.GPIO_OUT.items():
        gpio[role] = SimGpio(clock, 0, active_high)          # outputs start inactive
    for role, (_pin, active_high) in pins.GPIO_IN.items():
        # inputs idle in their "healthy" state: E-stop not asserted, RCD armed
        gpio[role] = SimGpio(clock, 1 if role == "RCD_OK" else 0, active_high)
    adc = {role: SimAdc() for role in pins.ADC}
    pwm = {role: SimPwm() for role in pins.PWM}
    can = {role: SimCanPort() for role in pins.CAN}
    return hi.Hal(clock, gpio, adc, pwm, can, SimFrameLink(), SimFlash(), SimWatchdog(clock))
