"""The only piece of the safety code that touches the HAL: reads pins and
ADCs into a `Meas` and drives the output roles from the supervisor's `Cmd`.

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
)


def _active(table, role):
    return table[role][1]


class SafetyIo:
    def __init__(self, hal, sup):
        self.hal = hal
        self.sup = sup
        g = hal.gpio
        self._outs = [(g[role], attr, _active(pins.GPIO_OUT, role)) for role, attr in _OUT]
        self._estop = (g["ESTOP"], _active(pins.GPIO_IN, "ESTOP"))
        self._rcd = (g["RCD_OK"], _active(pins.GPIO_IN, "RCD_OK"))
        self._aux_p = (g["K_DC_POS_AUX"], _active(pins.GPIO_IN, "K_DC_POS_AUX"))
        self._aux_n = (g["K_DC_NEG_AUX"], _active(pins.GPIO_IN, "K_DC_NEG_AUX"))
        a = hal.adc
        self._v_inlet = (a["V_INLET"], pins.ADC["V_INLET"][1] / 1000)
        self._v_link = (a["V_LINK"], pins.ADC["V_LINK"][1] / 1000)
        self._v_ac = (a["V_AC_OUT"], pins.ADC["V_AC_OUT"][1] / 1000)
        self._t_inlet = a["T_INLET"]
        self.wdt_feeds = 0

    @staticmethod
    def _is_active(pair):
        lvl = pair[0].value()
        return lvl == 1 if pair[1] else lvl == 0

    def read(self, m):
        """Fill the locally measured fields of `m`."""
        m.v_inlet = self._v_inlet[0].read_mv() * self._v_inlet[1]
        m.v_link = self._v_link[0].read_mv() * self._v_link[1]
        m.v_ac = self._v_ac[0].read_mv() * self._v_ac[1]
        m.t_inlet = (self._t_inlet.read_mv() - _T_OFFSET_MV) / _T_MV_PER_C
        # E-stop pin is active low: the loop opened reads 0 -> "active"
        m.estop_ok = not self._is_active(self._estop)
        m.rcd_ok = self._is_active(self._rcd)
        m.aux_pos = self._is_active(self._aux_p)
        m.aux_neg = self._is_active(self._aux_n)

    def apply(self, feed=True):
        """Drive every output role from sup.cmd; feed the watchdog only from
        the main loop (feed=True), never from interrupt paths."""
        c = self.sup.cmd
        for pin, attr, active_high in self._outs:
            on = getattr(c, attr)
            pin.value((1 if on else 0) if active_high else (0 if on else 1))
        if feed:
            self.hal.wdt.feed()
            self.wdt_feeds += 1
