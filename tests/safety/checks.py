"""Physical safety checks on the simulated plant, evaluated every simulated
millisecond. They look at the pins and the plant's true quantities, not at
the supervisor's internal flags, so they are independent of its code."""
from firmware.safety import faults as fl
from firmware.safety import limits as L
from firmware.safety import supervisor as S

ADC_TOL_V = 1.0     # ADC quantisation (0.4 V/LSB at the 400x divider) + one step of drift
TICK = L.SUPERVISOR_PERIOD_MS
BOUND_LINK_MS = L.VEHICLE_LINK_TIMEOUT_MS + L.RAMP_DOWN_TIMEOUT_MS + 3 * TICK
BOUND_PS_LINK_MS = L.PS_LINK_TIMEOUT_MS + L.PS_CUT_SETTLE_MS + 4 * TICK
BOUND_STALL_MS = L.LOOP_STALL_MS + 2 * L.MONITOR_PERIOD_MS + L.PS_CUT_SETTLE_MS + TICK
BOUND_BACKFEED_MS = L.BACKFEED_TIME_MS + 2 * TICK


class Checker:
    def __init__(self, plant):
        self.p = plant
        self.n_closes = 0
        self.n_opens = 0
        self.since = {}            # condition name -> first ms it was seen
        self.env = 0.0             # current envelope the stage may be at
        self.violations = []
        self.steps = 0

    def _since(self, name, cond, now):
        if cond:
            return now - self.since.setdefault(name, now)
        self.since.pop(name, None)
        return -1

    def fail(self, msg):
        raise AssertionError("t=%d ms state=%s: %s" % (self.p.clock.now_ms() - 1,
                                                       self.p.app.session.state, msg))

    def __call__(self, p):
        self.steps += 1
        now = p.clock.now_ms() - 1           # the ms that was just simulated
        out = p.out
        k = out("K_DC_POS")
        safe = not (k or out("K_DC_NEG") or out("K_PRECHARGE") or out("PS_ENABLE") or out("AC_OUT_RELAY"))
        sup = p.app.sup
        cmd = sup.cmd
        # 1. contactors close only with both sides within 20 V
        while self.n_closes < len(p.closes):
            t, dv = p.closes[self.n_closes]
            if dv > L.V_MATCH_MAX_V + ADC_TOL_V:
                self.fail("contactor closed with %.1f V across it" % dv)
            self.n_closes += 1
        # 2. never opened with > 2 A unless counted as an emergency trip
        while self.n_opens < len(p.opens):
            t, i, emerg_after, emerg_before = p.opens[self.n_opens]
            if i > L.I_BREAK_MAX_A and emerg_after <= emerg_before:
                self.fail("contactor opened at %.1f A without an emergency trip" % i)
            self.n_opens += 1
        # 3. the limit and the current never exceed min(car, cable, fuse, config, box)
        v = p.v_inlet
        if cmd.i_limit_a > 0 and now % TICK == 0 and not p.stalled:   # judged at the step that set it
            # the car's limits as it last sent them over the link
            pmax = min(p.tx_max_p, p.app.config.max_power_w, L.BOX_MAX_POWER_W)
            ceiling = min(p.tx_max_i, L.CABLE_RATING_A, L.FUSE_RATING_A, pmax / max(v - ADC_TOL_V, 1.0))
            if cmd.i_limit_a > ceiling + 1e-6:
                self.fail("limit %.2f A above ceiling %.2f A" % (cmd.i_limit_a, ceiling))
        self.env = max(cmd.i_limit_a, self.env - 0.1)  # the stage ramps down at 100 A/s
        if not (p.oc_offset or p.short) and p.i > self.env + 0.5 and k:
            self.fail("current %.1f A above the granted envelope %.1f A" % (p.i, self.env))
        # 4. SoC floor / minimum voltage / isolation / over-temperature: no current granted
        if self._since("soc", p.car_closed and 0 <= p.app.m.veh_soc <= sup.soc_floor_pct, now) > TICK \
                and cmd.i_limit_a > 0:
            self.fail("current granted at SoC %d %%" % p.soc)
        if self._since("vmin", p.car_closed and v <= p.car_min_v + L.V_MIN_MARGIN_V - ADC_TOL_V, now) > TICK \
                and cmd.i_limit_a > 0:
            self.fail("current granted at %.1f V (car minimum %.1f V)" % (v, p.car_min_v))
        if self._since("iso", p.iso_bad and k, now) > TICK and cmd.i_limit_a > 0:
            self.fail("current granted with isolation fault")
        if self._since("hot", p.temp >= L.T_STOP_C, now) > TICK and cmd.i_limit_a > 0:
            self.fail("current granted at %.1f degC" % p.temp)
        # 4b. inputs that cannot be trusted: never a current grant on them
        # (a stalled main loop cannot revoke a grant: the stall monitor's bound, check 6, applies)
        untrusted = p.v_sensor_bad or p.i_nan or p.t_open or p.soc_bad or p.ac_nan or (p.imd_off and k)
        if self._since("untrusted", untrusted and not p.stalled, now) > 2 * TICK and cmd.i_limit_a > 0:
            self.fail("current granted on an untrusted input")
        if self._since("t_stale", p.t_stale and not p.stalled, now) > L.SLOW_FRAME_MAX_AGE_MS + 2 * TICK \
                and cmd.i_limit_a > 0:
            self.fail("current granted on a stale temperature")
        if self._since("rev", p.short_rev and p.i < -L.FUSE_RATING_A, now) > TICK and k:
            self.fail("contactors still closed %d ms into a reverse short" % (now - self.since["rev"]))
        # 5. E-stop: safe at once (interrupt path)
        if p.estop and not safe:
            self.fail("output energised with the E-stop open")
        # 6. loss of links / main loop: safe within the stated bounds
        if self._since("link", p.link_dead, now) > BOUND_LINK_MS and k and p.car_closed and p.i > 0:
            # the car closes its contactors only in a live session, so a
            # dead link must have ended current flow by now
            self.fail("still supplying %d ms after vehicle link loss" % (now - self.since["link"]))
        if self._since("ps", p.ps_dead, now) > BOUND_PS_LINK_MS and not safe:
            self.fail("not safe %d ms after power-stage link loss" % (now - self.since["ps"]))
        if self._since("stall", p.stalled, now) > BOUND_STALL_MS and not safe:
            self.fail("not safe %d ms after main-loop stall" % (now - self.since["stall"]))
        # 7. AC output: bond and RCD as the mode needs, never onto a live output
        ac = out("AC_OUT_RELAY")
        if ac:
            need = S.BOND_REQUIRED[p.app.config.mode]
            if out("NPE_BOND_RELAY") != need:
                self.fail("AC energised with N-PE bond %d in mode %d" % (out("NPE_BOND_RELAY"), p.app.config.mode))
            if self._since("rcd", p.rcd_trip, now) > TICK:
                self.fail("AC relay held with the RCD tripped")
            if not out("PS_ENABLE"):
                self.fail("AC relay closed without the power stage")
        else:
            self.since.pop("rcd", None)
        if ac and not getattr(self, "_ac", 0) and p.backfeed_v >= L.BACKFEED_V_RMS:
            self.fail("AC relay closed onto a live output (%.0f V)" % p.backfeed_v)
        self._ac = ac
        if self._since("bf", p.backfeed_v > 0 and ac, now) > BOUND_BACKFEED_MS:
            self.fail("AC relay still closed %d ms into a backfeed" % (now - self.since["bf"]))
        # 8. sequencing
        if out("PS_ENABLE") and not k:
            self.fail("power stage enabled with contactors open")
        if out("K_PRECHARGE") and k:
            self.fail("precharge source on with contactors closed")
        # 9. the firmware's own guard never fires
        if sup.faults & (1 << fl.F_INVARIANT):
            self.fail("invariant guard fired: %s" % getattr(sup, "invariant_violation", "?"))
