"""CHAdeMO numbers from the reference (shared/reference/chademo-can.md; each
line cites its section and the upstream project it names): frame ids,
sequence timings and voltage/current thresholds. "v2xbox choices" are ours
where the reference gives no number. No logic here."""
from micropython import const

# ---------------------------------------------------------------- frame ids (chademo-can.md s3)
ID_100 = const(0x100)
ID_101 = const(0x101)
ID_102 = const(0x102)
ID_110 = const(0x110)
ID_200 = const(0x200)
ID_201 = const(0x201)

# ---------------------------------------------------------------- timings and thresholds
# chademo-can.md s6 (ccs32clara-chademo chademoCharger.cpp, furdog/chademo, Battery-Emulator) unless noted.
T_PERMISSION_MS = const(8000)       # s6 #4: k/j + 0x102.5 b0 within 8 s of d1 (also bounds the car's CAN start, #2)
T_D2_AFTER_K_MS = const(20000)      # s6 #6: d2 within 20 s of k
T_EV_CONTACTORS_MS = const(4000)    # s6 #7: car closes its contactors within 4 s of d2
T_CURRENT_REQUEST_MS = const(4000)  # s6 #9: request > 0 within 4 s of contactors closed
T_NO_REQUEST_MS = const(1000)       # s6 #11: no request for 1 s -> stop
T_STOP_CURRENT_MS = const(2500)     # s6 #12: the car waits 2.5 s for current <= 5 A
T_WELDING_MS = const(10000)         # s6 #13: the CAR's welding detection (b3 within 4 s, limit 10 s); the box's
                                    # own contactor weld check is the supervisor's one timer, limits.WELD_CHECK_MS
T_D1_AFTER_D2_MS = const(500)       # s6 #14: open d2, wait 500 ms, open d1
T_KEEPALIVE_MS = const(60000)       # s7: report 1 A every 60 s (Leaf ends after ~6 min at 0 A; ccs32clara)
# v2xbox choices (no number in the reference):
T_GRANT_MS = const(1000)            # supervisor confirms d1/d2 within 1 s
T_LOCK_MS = const(2000)             # lock feedback
T_BOX_CONTACTORS_MS = const(5000)   # precharge to the battery voltage + close
T_OPEN_BOX_MS = const(1000)         # box contactors report open (aux contacts)
T_END_VOLTAGE_MS = const(5000)      # inlet below 60 V before unlocking
T_OVERCURRENT_MS = const(1000)      # measured > allowed + 10 A this long (the car's own rule is 10 A for 5 s, s7)

V_EV_CONTACTORS_OPEN = const(10)    # s6 #6: inlet < 10 V with the car's contactors open
V_END_OF_TEST = const(20)           # s6 #6: end of insulation test < 20 V (and 0 V for d2, #7)
V_BATTERY_PRESENT = const(50)       # s6 #8: measured battery voltage > 50 V
V_MATCH = const(20)                 # box contactors close only with both sides within 20 V (issue #5 invariant)
V_WELDING_DONE = const(10)          # s6 #13: <= 10 V within 2 s
V_TOUCH_SAFE = const(60)            # s6 IEEE 2030.1.1 item: < 60 V (we keep the lock until then)
I_STOP_A = const(5)           # s6 #12: current <= 5 A
I_DEVIATION_A = const(10)             # s7: current deviation >= 10 A
LOWER_THRESHOLD_MARGIN_PCT = const(2)  # s7: Battery-Emulator adds 2 % to the car's minimum discharge voltage
