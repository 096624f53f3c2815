"""The charging-port verbs the SECC uses, and a simulated port. MicroPython-compatible.

The protocol-neutral charging port is issue 9's (firmware/charging/port.py,
landed while this was written). The SECC talks to the box only through the
verbs below, which map one to one onto that port; `ChargingPortVerbs` at the
end of this module is that mapping (SimPort is the simulated box for the CLI,
the rigs and the tests). The protocol asks, the safety
supervisor decides: every request may be refused or lag, the SECC reads the
outcome back from the status methods and never assumes it.

Requests
    cable_check(volts)      run the isolation test with the output at `volts`
                            (0: end it, discharge the output below 60 V)
    precharge(volts, amps)  drive the inlet to `volts` from the precharge
                            source at <= `amps` (<= 2 A); 0 V: off
    close() / open()        the box's DC contactors (the power path)
    limits(amps, watts)     discharge limits for the power stage (>= 0)
    bleed(on)               actively discharge the DC link
    stop()                  ordered stop: current to 0, open, precharge off, bleed
Status
    inlet_v()               measured inlet voltage, V
    current_a()             measured current, A, > 0 out of the car (discharge)
    isolation()             ISO_UNKNOWN (no result / test running / IMD paused),
                            ISO_VALID, IMD_WARNING, ISO_FAULT (ISO_* of firmware.charging.port)
    cable_check_done()      the test finished and the output is back below 60 V
    closed()                the box's contactors are closed (aux contacts agree)
    fault()                 0, or a box fault code (session must end)
    energy_wh()             energy drawn from the car so far
Ratings (attributes): max_v, min_v, max_i, min_i, max_p, ripple_a
"""
from micropython import const

from firmware.charging import port as cport
from firmware.charging.port import ISO_FAULT, ISO_UNKNOWN, ISO_VALID  # noqa: F401  (the one meaning of ISO_)

IMD_WARNING = const(3)      # IMD below its warning threshold: DIN/ISO-2 "Warning" (the charging port has no such level)

SAFE_V = const(60)          # IEC 61851-23: output below 60 V before CableCheck Finished / after the session
PRECHARGE_MAX_A = const(2)  # DIN/ISO-2 PreCharge: EVTargetCurrent <= 2 A


class SimPort:
    """First-order simulation of the box side of a DC inlet: precharge source,
    isolation monitor, contactors, power stage sinking the car's current.

    Precharge slew 2000 V/s: 2 A into a 1 mF DC link. The car's battery is `battery_v` (None: the battery is at whatever the car
    asked to precharge to, which is what a car does). Step with `step(now)`.
    """

    def __init__(self, max_v=500.0, max_i=32.0, max_p=11000.0, load_w=3600.0,
                 imd_ms=800, slew_v_per_s=2000.0, bleed_v_per_s=400.0, battery_v=None,
                 isolation_result=ISO_VALID):
        self.max_v = max_v
        self.min_v = 150.0
        self.max_i = max_i
        self.min_i = 0.0
        self.max_p = max_p
        self.ripple_a = 1.0
        self.load_w = load_w
        self.imd_ms = imd_ms
        self.slew = slew_v_per_s
        self.bleed_rate = bleed_v_per_s
        self.battery_v = battery_v
        self.isolation_result = isolation_result
        self.v = 0.0
        self.i = 0.0
        self._test_v = 0.0
        self._test_since = -1
        self._iso = ISO_UNKNOWN
        self._tested = False
        self._pre_v = 0.0
        self._closed = False
        self._lim_a = 0.0
        self._lim_w = 0.0
        self._bleed = False
        self._fault = 0
        self._wh = 0.0
        self._t = None
        self.log = []       # (now, verb, value) requests, for tests and the session report

    # ------------------------------------------------ requests
    def cable_check(self, volts):
        self.log.append((self._t, "cable_check", volts))
        self._test_v = min(float(volts), self.max_v)
        self._test_since = -1
        if volts > 0:
            self._iso = ISO_UNKNOWN
            self._tested = False

    def precharge(self, volts, amps):
        self.log.append((self._t, "precharge", volts))
        self._pre_v = min(float(volts), self.max_v)   # amps only bounds the slew on real hardware

    def close(self):
        self.log.append((self._t, "close", 1))
        bat = self.battery_v if self.battery_v is not None else self._pre_v
        # the supervisor refuses to close across a gap (20 V, as the CHAdeMO side does)
        if bat > 0 and abs(self.v - bat) <= 20.0:
            self._closed = True
            if self.battery_v is None:
                self.battery_v = bat
        self._pre_v = 0.0

    def open(self):
        self.log.append((self._t, "open", 0))
        self._closed = False

    def limits(self, amps, watts):
        self._lim_a = max(0.0, amps)
        self._lim_w = max(0.0, watts)

    def bleed(self, on):
        self._bleed = bool(on)

    def stop(self):
        self.log.append((self._t, "stop", 0))
        self._lim_a = 0.0
        self._lim_w = 0.0
        self.i = 0.0
        self._closed = False
        self._pre_v = 0.0
        self._test_v = 0.0
        self._bleed = True

    # ------------------------------------------------ status
    def inlet_v(self):
        return self.v

    def current_a(self):
        return self.i

    def isolation(self):
        return self._iso

    def cable_check_done(self):
        return self._tested and self._test_v == 0 and self.v < SAFE_V

    def closed(self):
        return self._closed

    def fault(self):
        return self._fault

    def energy_wh(self):
        return self._wh

    # ------------------------------------------------ physics
    def _toward(self, target, rate, dt):
        d = target - self.v
        step = rate * dt
        if d > step:
            d = step
        elif d < -step:
            d = -step
        self.v += d

    def step(self, now):
        if self._t is None:
            self._t = now
        dt = (now - self._t) / 1000.0
        self._t = now
        if dt <= 0:
            return
        if self._closed:
            bat = self.battery_v or 0.0
            want = 0.0
            if bat > 0:
                want = min(self._lim_a, self.load_w / bat)
                if self._lim_w > 0:
                    want = min(want, self._lim_w / bat)
            self.i += max(-50.0 * dt, min(50.0 * dt, want - self.i))   # 50 A/s ramp
            self.v = bat - 0.05 * self.i
            self._wh += self.v * self.i * dt / 3600.0
            return
        self.i = 0.0
        if self._test_v > 0:
            self._toward(self._test_v, self.slew, dt)
            if abs(self.v - self._test_v) <= 0.05 * self._test_v:
                if self._test_since < 0:
                    self._test_since = now
                elif now - self._test_since >= self.imd_ms and not self._tested:
                    self._iso = self.isolation_result
                    self._tested = True
        elif self._pre_v > 0:
            self._toward(self._pre_v, self.slew, dt)
        else:
            # test finished or idle: the output is discharged (bleed resistor / active bleed)
            self._toward(0.0, self.bleed_rate if (self._bleed or self._tested) else 5.0, dt)


class ChargingPortVerbs:
    """The SECC's verbs on issue 9's protocol-neutral ChargingPort (firmware/charging/port.py).

    Requests go into the port's request fields (the session and the supervisor decide);
    status comes from the fields `ChargingPort.update` refreshes every tick. Mapping:
        cable_check(v)      -> cp.cable_check(v)
        precharge(v, a)     -> cp.precharge(v)          (the 2 A bound is the supervisor's)
        close() / open()    -> cp.contactors(True / False)
        limits(a, w)        -> cp.limits(a, w)
        stop()              -> cp.contactors(False), cp.precharge(0), cp.stop(STOP_NORMAL)
        bleed(on)           -> nothing: the session's DC_DISCHARGE intent bleeds the link
        inlet_v/current_a   <- cp.v_present / cp.i_present
        isolation()         <- cp.iso
        cable_check_done()  <- a Valid result was seen and the inlet is back below 60 V
        closed()            <- cp.closed;  fault() <- 1 if cp.tripped
        energy_wh()         <- integrated in step(now) from v_present * i_present
    Ratings (max_v ...) are the box's configuration, given here.
    """

    def __init__(self, cp, max_v=500.0, min_v=150.0, max_i=32.0, max_p=11000.0, ripple_a=1.0):
        self.cp = cp
        self.max_v = max_v
        self.min_v = min_v
        self.max_i = max_i
        self.min_i = 0.0
        self.max_p = max_p
        self.ripple_a = ripple_a
        self._valid_seen = False
        self._checking = False
        self._wh = 0.0
        self._t = None

    def cable_check(self, volts):
        self._checking = volts > 0
        if volts > 0:
            self._valid_seen = False
        self.cp.cable_check(volts)

    def precharge(self, volts, amps):
        self.cp.precharge(volts)

    def close(self):
        self.cp.contactors(True)

    def open(self):
        self.cp.contactors(False)

    def limits(self, amps, watts):
        self.cp.limits(amps, watts)

    def bleed(self, on):
        pass

    def stop(self):
        cp = self.cp
        cp.contactors(False)
        cp.precharge(0)
        cp.stop(cport.STOP_NORMAL)

    def inlet_v(self):
        return self.cp.v_present

    def current_a(self):
        return self.cp.i_present

    def isolation(self):
        iso = self.cp.iso
        if iso == ISO_VALID:
            self._valid_seen = True
        return iso

    def cable_check_done(self):
        return self._valid_seen and not self._checking and self.cp.v_present < SAFE_V

    def closed(self):
        return self.cp.closed

    def fault(self):
        return 1 if self.cp.tripped else 0

    def energy_wh(self):
        return self._wh

    def step(self, now):
        if self._t is not None and now > self._t:
            self._wh += self.cp.v_present * self.cp.i_present * (now - self._t) / 3600000.0
        self._t = now
