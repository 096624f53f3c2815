"""Hypothesis stateful test: random sequences of vehicle behaviour, faults and
user commands drive the real SafetyApp (supervisor + session + DTC log +
config on flash) inside the simulated plant; every simulated millisecond is
checked by tests/safety/checks.py."""
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from firmware.safety import faults as fl
from firmware.safety import supervisor as S
from firmware.charging import table as T
from firmware.charging.engine import Session
from hil.rigs.safety import FAULTS, SafetyRig
from tests.safety.checks import Checker

CLEARABLE = ("estop", "isolation", "over_temp", "vehicle_link", "ps_link", "backfeed", "rcd",
             "over_current", "short", "soc_floor", "min_voltage",
             "v_sensor", "i_sensor", "i_reverse", "t_sensor", "t_stale", "imd_off", "soc_bad", "ac_sensor")


class RogueSession(Session):
    """A session with a bug: it asks for extra things, or drops requests, at
    random. The supervisor must keep every invariant regardless."""
    extra = 0
    drop = 0

    @property
    def intent(self):
        return (Session.intent.fget(self) | self.extra) & ~self.drop


PHASES = (T.HANDSHAKE, T.ISOLATION_CHECK, T.PRECHARGE, T.CONTACTORS_CLOSED, T.POWER_STAGE_START,
          T.SUPPLYING, T.STOPPING, T.WELDING_CHECK, T.DC_LINK_DISCHARGE)
ROGUE_BITS = (S.I_CONTACTORS, S.I_PRECHARGE, S.I_POWER_STAGE, S.I_CURRENT, S.I_AC, S.I_LINK)


class Discharge(RuleBasedStateMachine):
    @initialize(pack_v=st.floats(320, 440), soc=st.integers(25, 95),
                max_i=st.floats(5, 60), max_p=st.floats(2000, 20000), load=st.floats(200, 8000),
                early=st.booleans(), mode=st.sampled_from(("V2L", "V2V", "V2H")))
    def setup(self, pack_v, soc, max_i, max_p, load, early, mode):
        self.p = SafetyRig(pack_v=pack_v, soc=soc, car_max_i=max_i, car_max_p=max_p, load_w=load,
                       car_closes_early=early)
        assert self.p.app.set_config("mode", mode)[0]
        self.chk = Checker(self.p)
        self.base_pack = pack_v
        self.base_soc = soc

    @rule(ms=st.integers(1, 700))
    def run(self, ms):
        self.p.run(ms, self.chk)

    @rule()
    def plug(self):
        self.p.plug(True)

    @rule()
    def unplug(self):
        self.p.plug(False)

    @rule()
    def start(self):
        self.p.plug(True)
        self.p.run(20, self.chk)
        self.p.start()

    def _reach(self, target, extra):
        """Start a session and run until it is in `target` (if it gets there)."""
        self.p.plug(True)
        self.p.run(20, self.chk)
        self.p.start()
        self.p.run_until(lambda p: p.app.session.state == target, 4000, self.chk)
        self.p.run(extra, self.chk)

    @rule(phase=st.sampled_from(PHASES), extra=st.integers(0, 300), fault=st.sampled_from(FAULTS),
          after=st.integers(0, 1500))
    def session_with_fault(self, phase, extra, fault, after):
        """Land in a session phase, inject a fault there."""
        self._reach(phase, extra)
        if not (fault == "loop_stall" and self.p.stalled):
            self.p.inject(fault)
        self.p.run(after, self.chk)

    @rule(phase=st.sampled_from(PHASES), extra=st.integers(0, 300),
          bits=st.lists(st.sampled_from(ROGUE_BITS), max_size=4),
          drop=st.lists(st.sampled_from(ROGUE_BITS), max_size=3), ms=st.integers(1, 1500))
    def rogue_in_phase(self, phase, extra, bits, drop, ms):
        self._reach(phase, extra)
        self.rogue_session(bits, drop, ms)

    @rule()
    def start_and_run(self):
        self.p.plug(True)
        self.p.start()
        self.p.run(2500, self.chk)

    @rule(ms=st.integers(0, 2000))
    def user_stop(self, ms):
        self.p.stop()
        self.p.run(ms, self.chk)

    @rule()
    def user_stop_now(self):
        self.p.stop()

    @rule()
    def user_reset(self):
        self.p.app.session.reset()

    @rule()
    def vehicle_stops(self):
        self.p.app.session.post(T.EV_VEHICLE_STOP)
        self.p.stop_t0 = self.p.clock.now_ms()

    @rule(fault=st.sampled_from(FAULTS))
    def inject(self, fault):
        if fault == "loop_stall" and self.p.stalled:
            return
        self.p.inject(fault)

    @rule(fault=st.sampled_from(CLEARABLE))
    def repair(self, fault):
        p = self.p
        if fault == "estop":
            p.estop = False
        elif fault == "isolation":
            p.iso_bad = False
        elif fault == "over_temp":
            p.heating = False
            p.temp = 25.0
        elif fault == "vehicle_link":
            p.link_dead = False
        elif fault == "ps_link":
            p.ps_dead = False
        elif fault == "backfeed":
            p.backfeed_v = 0.0
        elif fault == "rcd":
            p.rcd_trip = False
        elif fault == "over_current":
            p.oc_offset = 0.0
        elif fault == "short":
            p.short = False
        elif fault == "soc_floor":
            p.soc = self.base_soc
        elif fault == "min_voltage":
            p.pack_v = self.base_pack
        elif fault == "v_sensor":
            p.v_sensor_bad = False
        elif fault == "i_sensor":
            p.i_nan = False
        elif fault == "i_reverse":
            p.short_rev = False
        elif fault == "t_sensor":
            p.t_open = False
        elif fault == "t_stale":
            p.t_stale = False
        elif fault == "imd_off":
            p.imd_off = False
        elif fault == "soc_bad":
            p.soc_bad = False
        elif fault == "ac_sensor":
            p.ac_nan = False

    @precondition(lambda self: self.p.welded)
    @rule()
    def service_repairs_contactor(self):
        self.p.welded = False
        self.p.app.session.service_clear()

    @rule(bits=st.lists(st.sampled_from(ROGUE_BITS), max_size=4),
          drop=st.lists(st.sampled_from(ROGUE_BITS), max_size=3), ms=st.integers(1, 1500))
    def rogue_session(self, bits, drop, ms):
        s = self.p.app.session
        s.__class__ = RogueSession
        s.extra = 0
        for b in bits:
            s.extra |= b
        s.drop = 0
        for b in drop:
            s.drop |= b
        self.p.run(ms, self.chk)
        s.extra = s.drop = 0

    @rule(max_i=st.floats(0, 60), max_p=st.floats(0, 20000))
    def car_changes_limits(self, max_i, max_p):
        self.p.car_max_i = max_i
        self.p.car_max_p = max_p

    @rule(load=st.floats(0, 9000))
    def load_changes(self, load):
        self.p.load_w = load

    @rule(key=st.sampled_from(("soc_floor_pct", "max_power_w", "profile", "mode")),
          value=st.one_of(st.integers(-10, 9000), st.sampled_from(("V2L", "V2V", "V2H", "230V/50Hz",
                                                                   "120V/60Hz", "bogus", None))))
    def user_config(self, key, value):
        cfg = self.p.app.config
        before = cfg.as_dict()
        ok, why = self.p.app.set_config(key, value)
        if not ok:
            assert why, "a refusal must give a reason"
            assert cfg.as_dict() == before, "refused value changed the configuration"

    @invariant()
    def dtc_for_every_latched_fault(self):
        # every latched fault has a DTC with testFailed set (logged on the step it latched)
        app = self.p.app
        if self.p.stalled:
            return
        from firmware.safety import dtc as D
        for i in range(fl.N_FAULTS):
            if app._logged & (1 << i):
                assert app.dtc.status(D.FAULT_DTC[i]) & D.TF, fl.name(i)


TestDischarge = Discharge.TestCase
TestDischarge.settings = settings(max_examples=80, stateful_step_count=30, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])
