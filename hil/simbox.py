"""The simulated box: the real firmware (BoxApp) on the sim HAL, with its
service CAN port bridged to a python-can bus.

Firmware time is a SimClock. With `speed` > 0 it is paced against the wall
clock (speed 1 = real time, 10 = ten times faster); with speed 0 it runs as
fast as possible, which is what tests use.

scenario="discharge": the box runs inside the discharge bench (hil.rigs.discharge:
simulated CHAdeMO car + power stage, 1 ms plant steps) and plays the demo
session (plug, start, supply, user stop, unplug); only its service port is
bridged.
"""
import mmap
import os
import time

import can

from firmware.app.box import BoxApp
from firmware.core.clock import SimClock
from firmware.hal.sim import SimFlash, make_sim_hal

# The simulated box's image flash: STM32H743-like 128 KiB sectors; 2 state
# sectors + two 640 KiB slots (a 512 KiB image with room to grow).
IMAGE_SECTOR = 128 * 1024
SLOT_SECTORS = 5
IMAGE_FLASH_SIZE = (2 + 2 * SLOT_SECTORS) * IMAGE_SECTOR
SIM_SERIAL = "V2X-SIM-0001"


class FileFlash(SimFlash):
    """SimFlash kept in a file (shared mapping): it survives the process being
    killed, which is how the end-to-end tests cut the simulated box's power."""

    def __init__(self, path, size, sector_size):
        SimFlash.__init__(self, size=sector_size, sector_size=sector_size)
        self.size = size
        new = not os.path.exists(path) or os.path.getsize(path) != size
        if new:
            with open(path, "wb") as f:
                f.write(b"\xff" * size)
        self._f = open(path, "r+b")
        self.mem = mmap.mmap(self._f.fileno(), size)


def make_diag(image_flash=None, keys_dir=None, serial=SIM_SERIAL, fd=False):
    """(DiagConfig, Slots): the sim box provisioned with a key directory
    (default: the development keys) and its image flash."""
    from firmware.diag import image as I
    from firmware.diag.box import DiagConfig
    from firmware.diag.slots import Slots
    from host_tools.diag import keys as K

    d = keys_dir or K.DEV_DIR
    flash = image_flash if image_flash is not None else SimFlash(IMAGE_FLASH_SIZE, IMAGE_SECTOR)
    slots = Slots(flash, SLOT_SECTORS, pubkey=K.load_public_key(d))
    slot, h = slots.select()
    from firmware.app import version as V
    version = h.version if h is not None else I.version_int(V.MAJOR, V.MINOR, 0)
    cfg = DiagConfig(serial, K.device_key(K.load_master(d), serial), slots, version, random=os.urandom, fd=fd)
    return cfg, slots


class SimBox:
    def __init__(self, bus, speed=1.0, port="service", scenario=None, diag=True, image_flash=None,
                 keys_dir=None, faults=(), supply_ms=8000, fd=False):
        self.bus = bus
        self.speed = speed
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.bench = None
        self._port_name = port
        self._diag = diag
        self._keys_dir = keys_dir
        self._fd = fd
        self.image_flash = image_flash
        if diag and image_flash is None:
            self.image_flash = SimFlash(IMAGE_FLASH_SIZE, IMAGE_SECTOR)
        self.diag_cfg = None
        self.resets = 0
        self._after_supplying = []
        if diag:
            self.diag_cfg, self.slots = make_diag(self.image_flash, keys_dir, fd=fd)
        if scenario == "discharge":
            from firmware.charging import table as T
            from hil.rigs.discharge import DischargeRig
            from hil.scenarios.discharge import DischargeScenario
            self.bench = DischargeRig(clock=self.clock, hal=self.hal, collect_service=False)
            self.bench.script = DischargeScenario(supply_ms=supply_ms)
            self.app = self.bench.app
            self.app.diag_cfg = self.diag_cfg      # read by BoxApp.boot()
            for f in faults:
                name, t_ms, rel = (f + (False,))[:3]
                if rel:
                    self._after_supplying.append((name, t_ms))
                else:
                    self.bench.at(t_ms, lambda b, n=name: getattr(b, n)())
            if self._after_supplying:
                scenario_script = self.bench.script

                def script(b, run=scenario_script):
                    run(b)
                    if self._after_supplying and b.state == T.SUPPLYING:
                        for n, dt in self._after_supplying:
                            b.at(b.now + dt, lambda bb, n=n: getattr(bb, n)())
                        self._after_supplying = []
                self.bench.script = script
        elif scenario is None:
            self.app = BoxApp(self.hal, diag=self.diag_cfg)
        else:
            raise ValueError("unknown scenario %r" % scenario)
        self.port = self.hal.can[port]
        self.frames_out = 0
        self.frames_in = 0

    def boot(self):
        if self.bench is not None:
            self.bench.boot()
        else:
            self.app.boot()

    def _pump_in(self, timeout_s):
        msg = self.bus.recv(timeout=max(0.0, timeout_s))
        while msg is not None:
            if not msg.is_error_frame and not msg.is_remote_frame:
                self.port.inject(msg.arbitration_id, msg.data, msg.is_extended_id)
                self.frames_in += 1
            msg = self.bus.recv(timeout=0)

    def _pump_out(self):
        for can_id, data, ext in self.port.drain():
            fd = len(data) > 8
            self.bus.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=ext, is_fd=fd,
                                      bitrate_switch=fd))
            self.frames_out += 1
        if self.app.reset_requested:
            self._reset()

    def _reset(self):
        """UDS ECUReset: the MCU restarts. RAM is lost; both flashes (config/DTC
        and images) are kept; the bootloader decides which image runs."""
        self.resets += 1
        if self.bench is not None:
            self.app.reset_requested = 0     # the bench scenario keeps running (documented limit)
            return
        flash = self.hal.flash
        storage = self.hal.storage          # the config/DTC partitions (views of `flash`)
        self.hal = make_sim_hal(self.clock)
        self.hal.flash = flash
        self.hal.storage = storage
        self.port = self.hal.can[self._port_name]
        if self._diag:
            self.diag_cfg, self.slots = make_diag(self.image_flash, self._keys_dir, fd=self._fd)
        self.app = BoxApp(self.hal, diag=self.diag_cfg)
        self.app.boot()

    def run(self, duration_ms=None, should_stop=None):
        """Run for `duration_ms` of firmware time, [now, now + duration), or forever."""
        if self.bench is not None:
            return self._run_bench(duration_ms, should_stop)
        start_ms = self.clock.now_ms()
        end_ms = None if duration_ms is None else start_ms + duration_ms
        wall0 = time.monotonic()
        while should_stop is None or not should_stop():
            self.app.step()
            self._pump_out()
            wake = self.app.next_wake_ms()
            last = end_ms is not None and wake >= end_ms
            if last:
                wake = end_ms
            if self.speed > 0:
                self._pump_in(wall0 + (wake - start_ms) / 1000.0 / self.speed - time.monotonic())
                # a frame that arrives early wakes the loop but must not pull firmware time
                # ahead of the wall clock (the box would then stall until the wall caught up)
                paced = start_ms + int((time.monotonic() - wall0) * 1000.0 * self.speed)
                self.clock.set(max(self.clock.now_ms(), min(wake, paced)))
                if last and self.clock.now_ms() >= end_ms:
                    break
            else:
                self._pump_in(0)
                self.clock.set(max(wake, self.clock.now_ms()))
                if last:
                    break

    _BENCH_SLICE_MS = 10

    def _run_bench(self, duration_ms, should_stop):
        """Bench scenario: 1 ms plant steps, the bus serviced every 10 ms of firmware time."""
        b = self.bench
        start_ms = self.clock.now_ms()
        end_ms = None if duration_ms is None else start_ms + duration_ms
        wall0 = time.monotonic()
        while (should_stop is None or not should_stop()) and (end_ms is None or self.clock.now_ms() < end_ms):
            for _ in range(self._BENCH_SLICE_MS):
                b.step()
            self._pump_out()
            if self.speed > 0:
                # keep taking frames until the wall clock reaches firmware time: an early
                # frame must not pull the bench ahead of real time
                while True:
                    left = wall0 + (self.clock.now_ms() - start_ms) / 1000.0 / self.speed - time.monotonic()
                    self._pump_in(left)
                    if left <= 0:
                        break
            else:
                self._pump_in(0)
