"""The only piece of the safety code that touches the HAL: reads pins and
ADCs into a `Meas` and drives the output roles from the supervisor's `Cmd`.
Pin values are logical (HAL contract: the backends apply the polarity);
nothing here inverts a level.

Values that arrive over CAN/PLC (discharge current, AC power, stage
temperature, IMD result, vehicle limits, link timestamps) are written into
the same `Meas` by the protocol and power-stage modules, not read here.
"""
from micropython import const

from firmware.hal import pins

# T_INLET sensor: 10 mV/degC with 500 mV at 0 degC (team: TMP36-class sensor on the board).
_T_OFFSET_MV = const(500)
_T_MV_PER_C = const(10)

# output role -> Cmd attribute
_OUT = (
    ("K_DC_POS", "k_pos"),
    ("K_DC_NEG", "k_neg"),
    ("K_PRECHARGE", "k_pre"),
    ("DC_DISCHARGE", "dc_discharge"),
    ("AC_OUT_RELAY", "ac_relay"),
    ("NPE_BOND_RELAY", "npe_bond"),
    ("PS_ENABLE", "ps_enable"),
    ("CHADEMO_D1", "d1"),
    ("CHADEMO_D2", "d2"),
    ("LOCK_MOTOR", "lock"),
    ("RCD_TEST", "rcd_test"),
)
CP_FREQ_HZ = const(1000)   # control pilot oscillator (IEC 61851-1 / SAE J1772)


class SafetyIo:
    def __init__(self, hal, sup):
        self.hal = hal
        self.sup = sup
        g = hal.gpio
        self._outs = [(g[role], attr) for role, attr in _OUT]
        self._estop = g["ESTOP"]
        self._rcd = g["RCD_OK"]
        self._aux_p = g["K_DC_POS_AUX"]
        self._aux_n = g["K_DC_NEG_AUX"]
        self._cp = hal.pwm["CP_PWM"]
        self._cp_set = -1          # duty last written to the pilot oscillator
        self._ilk = g["V2H_INTERLOCK"]
        self._ocp = hal.pwm["OUTLET_CP_PWM"]
        self._ocp_set = -1         # duty last written to the outlet's pilot
        a = hal.adc
        self._v_inlet = (a["V_INLET"], pins.ADC["V_INLET"][1] / 1000)
        self._v_link = (a["V_LINK"], pins.ADC["V_LINK"][1] / 1000)
        self._v_ac = (a["V_AC_OUT"], pins.ADC["V_AC_OUT"][1] / 1000)
        self._t_inlet = a["T_INLET"]
        self.wdt_feeds = 0


    def read(self, m, now=-1):
        """Fill the locally measured fields of `m` (`now`: the time of the
        reading, for the inputs the supervisor ages; -1 leaves them unaged)."""
        m.v_inlet = self._v_inlet[0].read_mv() * self._v_inlet[1]
        m.v_link = self._v_link[0].read_mv() * self._v_link[1]
        m.v_ac = self._v_ac[0].read_mv() * self._v_ac[1]
        m.t_inlet = (self._t_inlet.read_mv() - _T_OFFSET_MV) / _T_MV_PER_C
        m.estop_ok = self._estop.value() == 0      # logical 1 = E-stop asserted
        m.rcd_ok = self._rcd.value() == 1
        m.aux_pos = self._aux_p.value() == 1
        m.aux_neg = self._aux_n.value() == 1
        m.v2h_interlock = self._ilk.value() == 1
        if now >= 0:
            m.v2h_interlock_ms = now

    def apply(self, feed=True):
        """Drive every output role from sup.cmd; feed the watchdog only from
        the main loop (feed=True), never from interrupt paths."""
        c = self.sup.cmd
        for pin, attr in self._outs:
            pin.value(1 if getattr(c, attr) else 0)
        # pilot: state F = constant -12 V (0 %), off = constant +12 V (100 %)
        duty = 0 if c.cp_state_f else (c.cp_duty_pm if c.cp_pwm_on else 1000)
        if duty != self._cp_set:
            self._cp.set(CP_FREQ_HZ, duty)
            self._cp_set = duty
        duty = 0 if c.outlet_cp_state_f else (c.outlet_cp_duty_pm if c.outlet_cp_pwm_on else 1000)
        if duty != self._ocp_set:
            self._ocp.set(CP_FREQ_HZ, duty)
            self._ocp_set = duty
        if feed:
            self.hal.wdt.feed()
            self.wdt_feeds += 1
