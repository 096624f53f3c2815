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
import time

import can

from firmware.app.box import BoxApp
from firmware.core.clock import SimClock
from firmware.hal.sim import make_sim_hal


class SimBox:
    def __init__(self, bus, speed=1.0, port="service", scenario=None):
        self.bus = bus
        self.speed = speed
        self.clock = SimClock()
        self.hal = make_sim_hal(self.clock)
        self.bench = None
        if scenario == "discharge":
            from hil.rigs.discharge import DischargeRig
            from hil.scenarios.discharge import DischargeScenario
            self.bench = DischargeRig(clock=self.clock, hal=self.hal, collect_service=False)
            self.bench.script = DischargeScenario()
            self.app = self.bench.app
        elif scenario is None:
            self.app = BoxApp(self.hal)
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
            self.bus.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=ext))
            self.frames_out += 1

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
                self._pump_in(wall0 + (self.clock.now_ms() - start_ms) / 1000.0 / self.speed - time.monotonic())
            else:
                self._pump_in(0)
