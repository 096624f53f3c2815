"""CHAdeMO frame mapping: the vehicle frames' values (decoded by the tables
generated from dbc/chademo.dbc) into the machine's fields, and the machine's
state into the charger frames 0x108/0x109/0x208/0x209 (filled just before
each encode). Functions of the machine (`core`), bound as its methods; no
decisions here beyond what a field must carry (cited per line)."""
from micropython import const

from firmware.protocols.chademo import spec as S

# which vehicle frames arrived in this session (`seen(mask)`)
SEEN_100 = const(0x01)
SEEN_101 = const(0x02)
SEEN_102 = const(0x04)
SEEN_200 = const(0x08)
SEEN_201 = const(0x10)
SEEN_110 = const(0x20)


def _clamp(x, lo, hi):
    x = int(x)
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def on_frame(core, fid, v, now_ms):
    """CanNode RX handler: copy what we need out of the reused dict."""
    if fid == S.ID_102:
        core._seen |= SEEN_102
        core.ev_protocol = v["ProtocolNumber"]
        core.ev_target_v = v["TargetBatteryVoltage"]
        core.ev_request_a = v["ChargingCurrentRequest"]
        core.ev_faults = (v["FaultBatteryOverVoltage"] | (v["FaultBatteryUnderVoltage"] << 1)
                          | (v["FaultBatteryCurrentDeviation"] << 2) | (v["FaultHighBatteryTemperature"] << 3)
                          | (v["FaultBatteryVoltageDeviation"] << 4))
        core.ev_enabled = v["StatusChargingEnabled"]
        core.ev_not_park = v["StatusShiftNotPark"]
        core.ev_sys_fault = v["StatusChargingSystemFault"]
        core.ev_contactor_open = v["StatusContactorOpen"]
        core.ev_stop_req = v["StatusNormalStopRequest"]
        core.ev_v2x = v["StatusDischargeCompatible"]
        core.ev_charged = v["ChargedRate"]
    elif fid == S.ID_200:
        core._seen |= SEEN_200
        core.ev_max_dis_a = v["MaxDischargeCurrent"]   # already un-inverted by the DBC (s4)
        core.ev_min_dis_v = v["MinDischargeVoltage"]
        core.ev_min_level = v["MinBatteryDischargeLevel"]
        core.ev_max_remaining = v["MaxRemainingCapacityForCharging"]
    elif fid == S.ID_100:
        core._seen |= SEEN_100
        core.ev_min_charge_a = v["MinChargeCurrent"]
        core.ev_max_v = v["MaxBatteryVoltage"]
        core.ev_ref = v["ChargedRateReference"]
    elif fid == S.ID_101:
        core._seen |= SEEN_101
        core.ev_capacity = int(v["RatedBatteryCapacity"] * 10 + 0.5)   # 0.1 kWh
    elif fid == S.ID_201:
        core._seen |= SEEN_201
    elif fid == S.ID_110:
        core._seen |= SEEN_110
        # DynamicControl: the box does not lower its current dynamically (no use yet)


def fill_capabilities(core, now_ms, v):
    """0x108 (sent before 0x109 in every cycle, s1)."""
    v["WeldingDetectionSupport"] = 1      # required for 1.x (s3.2)
    v["AvailableOutputVoltage"] = _clamp(core.max_voltage, 0, 1000)
    # A discharging box offers no charge current: a Leaf asks for
    # min(its wish, this) in 0x102 and flags a deviation when 0x109 stays
    # >= 10 A off (chademo-can.md s7 current deviation; issue 8).
    v["AvailableOutputCurrent"] = 0 if core._declared else _clamp(core.box_limit_a, 0, 255)
    mx = core.ev_max_v if (core._seen & 1) and 0 < core.ev_max_v < core.max_voltage else core.max_voltage
    v["ThresholdVoltage"] = _clamp(mx, 0, 1000)   # min(car max V, charger max V)


def fill_status(core, now_ms, v):
    """0x109. Present voltage is the MEASURED inlet voltage, never the
    car's target (s7 voltage deviation: ~20 V off -> car fault)."""
    v["ProtocolNumber"] = core.protocol
    v["PresentOutputVoltage"] = _clamp(core.inlet_v, 0, 1000)
    cur = 0
    if core._charging and now_ms - core._keepalive_t >= S.T_KEEPALIVE_MS:
        cur = 1                           # s7 keep-alive: one frame with 1 A every 60 s
        core._keepalive_t = now_ms
    v["PresentOutputCurrent"] = cur
    v["DischargeCompatible"] = 1 if core._declared else 0
    ch = 1 if core._charging else 0
    v["StatusCharging"] = ch
    v["StatusChargingStopControl"] = 1 - ch   # b0 and b5 exclusive (s3.2)
    v["StatusConnectorLocked"] = 1 if core.locked() else 0
    v["StatusBatteryIncompatible"] = 1 if core._incompatible else 0
    v["StatusChargingSystemMalfunction"] = 1 if core.fault else 0
    v["StatusChargerMalfunction"] = 1 if core.box_malfunction() else 0
    v["RemainingChargingTime10s"] = 2550      # raw 0xFF: use minutes (s3.2)
    v["RemainingChargingTimeMin"] = _clamp(core.remaining_min, 1, 255)  # stays >= 5 s (s7)


def fill_discharge_status(core, now_ms, v):
    """0x208: measured discharge current (never faked, s7), our input limit
    and lower threshold. Inverted coding is done by the DBC (s4)."""
    v["PresentDischargeCurrent"] = _clamp(core.current_a, 0, 255)
    v["AvailableInputVoltage"] = _clamp(core.available_input_v, 0, 1000)
    v["AvailableInputCurrent"] = _clamp(core.box_limit_a, 0, 255)
    v["LowerThresholdVoltage"] = _clamp(core.lower_threshold_v(), 0, 1000)


def fill_discharge_info(core, now_ms, v):
    """0x209: sequence control number 2 as in the Leaf logs (s5), no
    remaining time (0 = unused)."""
    v["SequenceControlNumber"] = 2
    v["RemainingDischargeTime"] = 0
