"""A simulated CHAdeMO car (Leaf-like, V2X capable) for the bench.

It plays the vehicle side of shared/reference/chademo-can.md s6/s7 on CAN
frames encoded with the project's own codec (firmware.can.gen.chademo):

    car = ChademoCar(soc=72, max_discharge_a=15)
    frames = car.step(now_ms, d1=True, d2=False, current_a=0.0)  # [(id, bytes)]
    car.receive(frame_id, data, now_ms)                            # charger frames
    car.k, car.contactors_closed, car.terminal_v(current_a)

Behaviour: wakes on d1 and sends 0x100/0x101/0x102/0x200 (and optionally
0x201) every 100 ms; after seeing the charger's 0x108/0x109 and checking
compatibility it enables charging (0x102.5 b0) and pulls k; on d2 (with
the connector reported locked) it closes its contactors (b3 cleared) and
the inlet sees the battery; then it allows discharge in 0x200 (inverted
coding done by the DBC). It checks what a real car checks: 0x109 present
voltage against its own measurement (~20 V, voltage-deviation fault bit),
0x208 present discharge current against its own (>= 10 A for >= 5 s,
current-deviation fault bit), 0x208/0x209 every cycle once the charger
declared discharge, the 6-minute 0 A keep-alive. It ends when the charger
sets stop control / clears charging: allowed current to 0, waits for
<= 5 A, opens its contactors (b3 set), drops b0 and k. d2 opening opens
the contactors at once (counted as "under load" above 5 A).

Fault injection: silence(), set_fault(name), drop_k(), open_contactors(),
lie_voltage(v), claim_contactors_closed(), request_stop(), shift_out_of_park(),
clear_enable(),
and the ZE0 quirk hang_on_early_discharge (hangs if 0x109 declares
discharge before the car enabled charging, s7).
"""
from firmware.can.gen import chademo
from inverter.plant.averaged import Battery

ASLEEP, AWAKE, ENABLED, CLOSED, DISCHARGE, STOPPING, DONE, HUNG = range(8)
STATE_NAMES = ("asleep", "awake", "enabled", "closed", "discharge", "stopping", "done", "hung")

FAULT_BITS = ("FaultBatteryOverVoltage", "FaultBatteryUnderVoltage", "FaultBatteryCurrentDeviation",
              "FaultHighBatteryTemperature", "FaultBatteryVoltageDeviation")


class ChademoCar:
    def __init__(self, battery_v=380.0, soc=72.0, capacity_kwh=40.0, max_discharge_a=15,
                 min_discharge_v=250, min_discharge_level=10, protocol=2, max_battery_v=435,
                 target_v=410, v2x=True, r_internal_ohm=0.1, volts_per_pct=1.2,
                 wake_ms=300, ready_ms=1500, contactor_ms=1200, discharge_ready_ms=300,
                 open_ms=800, send_0x201=False, hang_on_early_discharge=False,
                 voltage_deviation_v=20, voltage_deviation_ms=1000,
                 current_deviation_a=10, current_deviation_ms=5000,
                 keepalive_timeout_ms=360000, discharge_frames_timeout_ms=500,
                 charge_request_a=14, level_units="pct", max_remaining_pct=100):
        self.battery = Battery(battery_v, soc, capacity_kwh, r_internal_ohm, volts_per_pct)
        self.max_discharge_a = max_discharge_a
        self.min_discharge_v = min_discharge_v
        self.min_discharge_level = min_discharge_level
        self.protocol = protocol
        self.max_battery_v = max_battery_v
        self.target_v = target_v
        self.v2x = v2x
        self.wake_ms = wake_ms
        self.ready_ms = ready_ms
        self.contactor_ms = contactor_ms
        self.discharge_ready_ms = discharge_ready_ms
        self.open_ms = open_ms
        self.send_0x201 = send_0x201
        self.hang_on_early_discharge = hang_on_early_discharge
        self.voltage_deviation_v = voltage_deviation_v
        self.voltage_deviation_ms = voltage_deviation_ms
        self.current_deviation_a = current_deviation_a
        self.current_deviation_ms = current_deviation_ms
        self.keepalive_timeout_ms = keepalive_timeout_ms
        self.discharge_frames_timeout_ms = discharge_frames_timeout_ms
        # Leaf behaviour (issue 8): with its contactors closed the car asks for
        # min(what it wants, the charger's 0x108 available current) in 0x102 and
        # flags a current deviation if the charger's 0x109 current stays >= 10 A
        # off that request for 5 s.
        self.charge_request_a = charge_request_a
        # 0x200 bytes 6/7: "pct" or "0.1kWh" (a real Leaf V2X session sent 67/178
        # with a 22.2 kWh pack: 30 % / 80 % in 0.1 kWh units; chademo-can.md s3)
        self.level_units = level_units
        self.max_remaining_pct = max_remaining_pct
        self._qdev_since = None
        # injected faults / lies
        self.silent = False
        self.faults = {name: 0 for name in FAULT_BITS}
        self.sys_fault = 0
        self.not_park = 0
        self.stop_request = 0
        self.k_forced_off = False
        self.b0_forced_off = False
        self.reported_voltage = None     # lie: 0x100 max and 0x102 target voltage
        self.claim_closed = False        # lie: b3 cleared while open
        # counters for tests
        self.opened_under_load = 0
        self.welding_check_ok = None
        self.hung_reason = None
        self.end_reason = None
        self.frames_sent = 0
        self._reset_session()

    # ------------------------------------------------------------ physics
    @property
    def soc(self):
        return self.battery.soc

    @property
    def capacity_kwh(self):
        return self.battery.capacity_kwh

    def ocv(self):
        return self.battery.ocv()

    def terminal_v(self, current_a=0.0):
        return self.battery.terminal_v(current_a)

    @property
    def contactors_closed(self):
        return self.state in (CLOSED, DISCHARGE) or (self.state == STOPPING and not self._opened)

    @property
    def k(self):
        return self._k and not self.k_forced_off and self.state not in (ASLEEP, HUNG)

    # ------------------------------------------------------------ fault injection
    def silence(self):
        self.silent = True

    def set_fault(self, name):
        if name in self.faults:
            self.faults[name] = 1
        elif name == "ChargingSystemFault":
            self.sys_fault = 1
        else:
            raise KeyError(name)

    def drop_k(self):
        self.k_forced_off = True

    def clear_enable(self):
        """Clear 0x102.5 b0 but keep k (an inconsistent car)."""
        self.b0_forced_off = True

    def open_contactors(self):
        """Open the contactors now, whatever flows (a misbehaving car)."""
        if self.contactors_closed:
            self._open_now()
            self.state = DONE
            self.end_reason = "forced-open"

    def lie_voltage(self, volts):
        self.reported_voltage = volts

    def claim_contactors_closed(self):
        self.claim_closed = True

    def request_stop(self):
        self.stop_request = 1

    def shift_out_of_park(self):
        self.not_park = 1

    # ------------------------------------------------------------ session
    def _reset_session(self):
        self.state = ASLEEP
        self.enabled = False         # 0x102.5 b0
        self._k = False              # charge permission switch k
        self._opened = True
        self._t_d1 = None
        self._t_state = 0
        self.allowed_a = 0
        self.charger = {}            # latest decoded charger frames by id
        self._charger_seen = set()
        self._last_rx = {}
        self._charger_was_charging = False
        self._vdev_since = None
        self._cdev_since = None
        self._qdev_since = None
        self._zero_out_since = None
        self._next_tx = None
        self._i_meas = 0.0
        self._t_low_amps = None
        self._t_last = None
        self._t_d2 = None
        self._t_opened = None
        self._t_declared = None

    def _open_now(self):
        if self._i_meas > 5:
            self.opened_under_load += 1
        self._opened = True

    def receive(self, fid, data, now_ms):
        if self.state in (ASLEEP, HUNG):
            return
        try:
            vals = chademo.decode(fid, data)
        except chademo.CodecError:
            return
        self.charger[fid] = vals
        self._charger_seen.add(fid)
        self._last_rx[fid] = now_ms
        if (fid == chademo.ID_ChargerStatus and vals["DischargeCompatible"] and not self.enabled
                and self.hang_on_early_discharge):
            self.state = HUNG
            self.hung_reason = "discharge declared during discovery"

    def _go(self, state, now_ms):
        self.state = state
        self._t_state = now_ms

    def _fault_active(self):
        return any(self.faults.values()) or self.sys_fault

    def step(self, now_ms, d1, d2, current_a=0.0):
        """Advance to now_ms with the charger's d1/d2 lines and the discharge
        current drawn by the box (A, >= 0). Returns frames to send."""
        dt = 0 if self._t_last is None else now_ms - self._t_last
        self._t_last = now_ms
        self._i_meas = current_a if self.contactors_closed else 0.0
        self.battery.draw(self._i_meas, dt)
        if not d1:
            if self.state != ASLEEP:
                if self.contactors_closed:
                    self._open_now()
                self._reset_session()
            return []
        if self.state == ASLEEP:
            self.state = AWAKE
            self._t_d1 = now_ms
            self._t_state = now_ms
            self._next_tx = now_ms + self.wake_ms
        if self.state == HUNG:
            return []
        if not d2 and self.contactors_closed:
            self._open_now()               # the coil supply is d1-d2 (s2)
            self._go(DONE, now_ms)
            self.end_reason = self.end_reason or "d2-opened"
        self._behave(now_ms, d2)
        return self._frames(now_ms)

    def _behave(self, now_ms, d2):
        st = self.state
        ch = self.charger.get(chademo.ID_ChargerStatus)
        caps = self.charger.get(chademo.ID_ChargerCapabilities)
        if st == AWAKE:
            if ch is not None and caps is not None and now_ms - self._t_d1 >= self.ready_ms:
                ok = (caps["AvailableOutputVoltage"] >= self.target_v and not ch["StatusBatteryIncompatible"]
                      and not self._fault_active())
                if ok:
                    self.enabled = True
                    self._k = True
                    self._go(ENABLED, now_ms)
            return
        if st == ENABLED:
            if d2 and ch is not None and ch["StatusConnectorLocked"]:
                if self._t_d2 is None:
                    self._t_d2 = now_ms
                if now_ms - self._t_d2 >= self.contactor_ms:
                    self._opened = False
                    self._go(CLOSED, now_ms)
            else:
                self._t_d2 = None
            self._stop_checks(now_ms, ch)
            return
        if st in (CLOSED, DISCHARGE):
            self._measure_checks(now_ms, ch)
            if st == CLOSED and now_ms - self._t_state >= self.discharge_ready_ms and (
                    chademo.ID_ChargerDischargeStatus in self._charger_seen):
                self._go(DISCHARGE, now_ms)
            if self.state == DISCHARGE:
                self.allowed_a = self.max_discharge_a if self.soc > self.min_discharge_level else 0
            self._stop_checks(now_ms, ch)
            return
        if st == STOPPING:
            self.allowed_a = 0
            if not self._opened:
                if self._i_meas <= 5 and self._t_low_amps is None:
                    self._t_low_amps = now_ms
                if (self._t_low_amps is not None and now_ms - self._t_low_amps >= self.open_ms) or (
                        now_ms - self._t_state >= 2500 + self.open_ms):
                    self._open_now()
                    self._t_opened = now_ms
            else:
                # open: welding detection runs on the rig's inlet voltage (check_welding); release k
                self.enabled = False
                self._k = False
            return

    def check_welding(self, inlet_v, now_ms):
        """The rig reports the inlet voltage after the car opened: <= 10 V
        within 4 s means no weld (s6 #13)."""
        if self.state == STOPPING and self._opened and self.welding_check_ok is None:
            if inlet_v <= 10:
                self.welding_check_ok = True
            elif now_ms - self._t_opened > 4000:
                self.welding_check_ok = False

    def _begin_stop(self, now_ms, why):
        if self.state in (STOPPING, DONE):
            return
        self.end_reason = self.end_reason or why
        self.allowed_a = 0
        self._t_low_amps = None
        if why != "charger-stop":
            self.enabled = False     # the car's own stop: b0 cleared at once, k held until open
        if self.contactors_closed:
            self._go(STOPPING, now_ms)
        else:
            self.enabled = False
            self._k = False
            self._go(DONE, now_ms)

    def _stop_checks(self, now_ms, ch):
        if ch is None:
            return
        if self._fault_active():
            self._begin_stop(now_ms, "fault")
            return
        if self.stop_request:
            self._begin_stop(now_ms, "stop-request")
            return
        if ch["StatusCharging"] and not ch["StatusChargingStopControl"]:
            self._charger_was_charging = True
        elif self._charger_was_charging:
            self._begin_stop(now_ms, "charger-stop")
            return
        elif self.state == DISCHARGE and self.allowed_a > 0 and now_ms - self._t_state > 600:
            # the charger must start within 0.5 s of the request (s6 #10); stop control still set
            self._begin_stop(now_ms, "charger-stop")
            return
        if ch["DischargeCompatible"]:
            # once declared, 0x208/0x209 must come every cycle (s7)
            if self._t_declared is None:
                self._t_declared = now_ms
            for fid in (chademo.ID_ChargerDischargeStatus, chademo.ID_ChargerDischargeInfo):
                last = self._last_rx.get(fid, self._t_declared)
                if now_ms - max(last, self._t_declared) > self.discharge_frames_timeout_ms:
                    self.sys_fault = 1
                    self._begin_stop(now_ms, "missing-0x%X" % fid)
                    return

    def _measure_checks(self, now_ms, ch):
        if ch is None:
            return
        own_v = self.terminal_v(self._i_meas)
        if abs(ch["PresentOutputVoltage"] - own_v) > self.voltage_deviation_v:
            if self._vdev_since is None:
                self._vdev_since = now_ms
            elif now_ms - self._vdev_since >= self.voltage_deviation_ms:
                self.faults["FaultBatteryVoltageDeviation"] = 1
        else:
            self._vdev_since = None
        req = self._charge_request()
        if req > 0 and abs(ch["PresentOutputCurrent"] - req) >= self.current_deviation_a:
            if self._qdev_since is None:
                self._qdev_since = now_ms
            elif now_ms - self._qdev_since >= self.current_deviation_ms:
                self.faults["FaultBatteryCurrentDeviation"] = 1
        else:
            self._qdev_since = None
        ds = self.charger.get(chademo.ID_ChargerDischargeStatus)
        if ds is not None and self.state == DISCHARGE:
            if abs(ds["PresentDischargeCurrent"] - self._i_meas) >= self.current_deviation_a:
                if self._cdev_since is None:
                    self._cdev_since = now_ms
                elif now_ms - self._cdev_since >= self.current_deviation_ms:
                    self.faults["FaultBatteryCurrentDeviation"] = 1
            else:
                self._cdev_since = None
        if self.state == DISCHARGE:
            if ch["PresentOutputCurrent"] > 0:
                self._zero_out_since = None
            elif self._zero_out_since is None:
                self._zero_out_since = now_ms
            elif now_ms - self._zero_out_since >= self.keepalive_timeout_ms:
                self._begin_stop(now_ms, "keepalive")

    def _charge_request(self):
        """0x102.3: what the car asks the charger for, tracking 0x108."""
        caps = self.charger.get(chademo.ID_ChargerCapabilities)
        if caps is None or self.state not in (CLOSED, DISCHARGE):
            return 0
        a = caps["AvailableOutputCurrent"]
        return self.charge_request_a if self.charge_request_a < a else a

    def _levels(self):
        """0x200 bytes 6/7 in the car's units."""
        lo, hi = self.min_discharge_level, self.max_remaining_pct
        if self.level_units == "0.1kWh":
            k = self.capacity_kwh / 10.0      # 0.1 kWh per % of the pack, times 100
            return int(round(lo * k)), int(round(hi * k))
        return lo, hi

    # ------------------------------------------------------------ frames
    def _frames(self, now_ms):
        if self.silent or self.state in (ASLEEP, HUNG) or self._next_tx is None or now_ms < self._next_tx:
            return []
        self._next_tx += 100
        if self._next_tx <= now_ms:
            self._next_tx = now_ms + 100
        rep_v = self.reported_voltage
        max_v = self.max_battery_v if rep_v is None else rep_v
        tgt_v = self.target_v if rep_v is None else rep_v
        contactor_open = 0 if (self.claim_closed or not self._opened) else 1
        status = {
            "ProtocolNumber": self.protocol, "TargetBatteryVoltage": tgt_v, "ChargingCurrentRequest": self._charge_request(),
            "StatusChargingEnabled": 1 if self.enabled and not self.b0_forced_off else 0, "StatusShiftNotPark": self.not_park,
            "StatusChargingSystemFault": self.sys_fault, "StatusContactorOpen": contactor_open,
            "StatusNormalStopRequest": self.stop_request, "StatusBit6": 0,
            "StatusDischargeCompatible": 1 if self.v2x else 0,
            "ChargedRate": max(0, min(255, int(round(self.soc)))),
        }
        status.update(self.faults)
        out = [
            (chademo.ID_VehicleChargeLimits, chademo.encode(chademo.ID_VehicleChargeLimits, {
                "MinChargeCurrent": 0, "MaxChargeCurrent": 0, "MinBatteryVoltage": self.min_discharge_v,
                "MaxBatteryVoltage": max_v, "ChargedRateReference": 100})),
            (chademo.ID_VehicleChargingTime, chademo.encode(chademo.ID_VehicleChargingTime, {
                "MaxChargingTime10s": 2550, "MaxChargingTimeMin": 90, "EstimatedChargingTime": 60,
                "RatedBatteryCapacity": round(self.capacity_kwh, 1)})),
            (chademo.ID_VehicleStatus, chademo.encode(chademo.ID_VehicleStatus, status)),
        ]
        if self.v2x:
            lo, hi = self._levels()
            out.append((chademo.ID_VehicleDischargeLimits, chademo.encode(chademo.ID_VehicleDischargeLimits, {
                "MaxDischargeCurrent": self.allowed_a, "MinDischargeVoltage": self.min_discharge_v,
                "MinBatteryDischargeLevel": lo, "MaxRemainingCapacityForCharging": hi})))
            if self.send_0x201:
                out.append((chademo.ID_VehicleDischargeInfo, chademo.encode(chademo.ID_VehicleDischargeInfo, {
                    "V2hSequenceNumber": 2, "ApproxDischargeCompletionTime": 60,
                    "AvailableVehicleEnergy": round(self.capacity_kwh * self.soc / 100.0, 1)})))
        self.frames_sent += len(out)
        return out
