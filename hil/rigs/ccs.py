"""The CCS / NACS discharge bench in simulated time: the REAL box firmware
(BoxApp with discharge="ccs": SECC + charging port + session + SafetyApp +
power-stage link + service status) on the sim HAL, with

  V2G link      the box's own link (link=True, the default): the firmware's
                CcsLink on the sim HAL's modem FrameLink (hal.plc), the car's
                side simulated by hil.ccs.ev_net.EvNet (its SLAC with the
                reference PEV's timing, both modems and the powerline, its
                IPv6 host and TCP client); the car restarts SLAC whenever the
                5 % pilot comes back (plug-in, renewal after E/F or X1), and
                the scripted EVCC (hil.ccs.evcc) talks over EvNet's ev_* API
                once its modem is in the box's AVLN. `loss` (a probability, or
                {"ev": p, "evse": p} per sending side) makes the line lose
                any frame, seeded; `line` passes dup / reorder / only to
                hil.ccs.ev_net.SimLine. link=False: a MemoryTransport
                instead (no SLAC, no IP: the car talks once it sees 5 %);
  pilot         the car's pilot circuit (hil.ccs.cp_car.DcCar): B at plug-in,
                C after ChargeParameterDiscovery, B after PowerDelivery(stop);
                its plateaus go to the firmware's pilot ADC edge;
  car           the traction battery (inverter.plant.averaged.Battery) and the
                car's contactors: closed when it sends PowerDeliveryReq(start),
                opened after PowerDeliveryRes(stop) once the current is low
                (or 1 s later: the car's own timeout);
  internal CAN  PowerStageSim over the averaged plant (hil.rigs.discharge):
                precharge / cable-check source through the diode, IMD, DC/DC,
                inverter, AC load.

    r = CcsRig(car={"loop_limit_ms": 20000}, cfg={"profile": "vw-meb"})
    r.plug(); r.start()
    r.run_until(lambda r: r.ev.done and r.state == T.READY_TO_UNPLUG, 120000)

One step = 1 ms; the firmware runs its scheduler whenever a task is due.
Nothing reads the wall clock.
"""
import random

from firmware.app.box import BoxApp
from firmware.charging import table as T
from firmware.core.clock import SimClock
from firmware.hal.sim import make_sim_hal
from firmware.protocols.ccs.transport import MemoryTransport
from hil.ccs.cp_car import DcCar
from hil.ccs.ev_net import EvNet
from hil.ccs.evcc import DEFAULT_CAR, make_evcc
from hil.rigs.discharge import DischargeRig, PowerStageSim
from inverter.plant.averaged import Battery

EVCC_TICK_MS = 5
PILOT_SAMPLE_MS = 10
CAR_OPEN_TIMEOUT_MS = 1000


class CcsRig:
    def __init__(self, car=None, cfg=None, load_w=3000.0, soc=60.0, capacity_kwh=40.0, clock=None,
                 link=True, loss=0.0, seed=1, line=None):
        self.clock = clock or SimClock()
        self.hal = make_sim_hal(self.clock)
        self.app = BoxApp(self.hal, discharge="ccs")
        self.app.v2g_cfg = dict(cfg or {})
        self.link = link
        if link:
            # the box on its own link: no transport injected, the app builds CcsLink on hal.plc;
            # seeded randomness (NMKs, ports, ISNs): the same run is the same run
            self.app.v2g_cfg.setdefault("rng", random.Random(seed).randbytes)
            self.net = EvNet(self.hal.plc, self.clock.now_ms, loss=loss, seed=seed, line=line)
            self.transport = self.net.v2g    # the EVCC's side (ev_* API)
        else:
            self.net = None
            self.transport = MemoryTransport()
            self.app.v2g_transport = self.transport
        self.plug_at = None
        self.pwm_at = []             # 5 % pilot seen by the car (each start of a V2G session)
        self._slac_broken = False
        self.behaviour = dict(DEFAULT_CAR)
        self.behaviour.update(car or {})
        self.battery = Battery(v_at_soc=self.behaviour["battery_v"], soc=soc, capacity_kwh=capacity_kwh)
        self.plant = PowerStageSim(self.hal, load_w)
        self.pilot = DcCar()
        self.ev = None               # the EVCC of the running V2G session
        self.evs = []                # every EVCC, one per V2G session
        self.car_closed = False
        self._open_req_at = None
        self.plugged = False
        self.hooks = []
        self.states = []             # (t_ms, session state) transitions
        self.phases = []             # (t_ms, EVCC phase) transitions
        self.max_p_ac = 0.0
        self.ac_edges = []           # (t_ms, power into the load on/off)
        self._ac_live = False
        self._booted = False

    # ------------------------------------------------------------ user
    def boot(self):
        if not self._booted:
            self.app.boot()
            self._booted = True
            self.states.append((self.now, self.state))

    def plug(self, on=True):
        self.plugged = on
        if on:
            self.plug_at = self.now
            self.pilot.plug_in()
        else:
            self.pilot.unplug()
            if self.net is not None:
                self.net.unplug(self.now)

    def start(self):
        self.app.start()

    def stop(self):
        self.app.stop()

    def at(self, t_ms, fn):
        self.hooks.append((t_ms, fn))

    # ------------------------------------------------------------ views
    @property
    def now(self):
        return self.clock.now_ms()

    @property
    def power(self):
        return self.app.power

    @property
    def state(self):
        return self.app.power.safety.session.state

    def state_names(self):
        return [T.STATE_NAMES[s] for _, s in self.states]

    @property
    def ac_energy_wh(self):
        return self.plant.e_ac_wh

    def records(self):
        return self.app.power.secc.records

    def plant_gaps(self):
        """AC output gaps seen by the load: off .. on again, ms."""
        return [b[0] - a[0] for a, b in zip(self.ac_edges, self.ac_edges[1:]) if not a[1] and b[1]]

    def out_k(self):
        g = self.hal.gpio
        return (g["K_DC_POS"].level, g["K_DC_NEG"].level)

    def pilot_out(self):
        """(pwm_on, duty_pm, state_f) as the pilot output drives the line."""
        pwm = self.hal.pwm["CP_PWM"]
        d = pwm.duty_permille
        if pwm.freq_hz > 0 and 0 < d < 1000:
            return True, d, False
        return False, 0, d == 0         # duty 0: static -12 V (F); 1000: static +12 V (X1)

    # ------------------------------------------------------------ the car
    def _new_ev(self):
        ev = make_evcc(self.transport, self.behaviour, inlet_v=lambda: self.plant.v_inlet, current_a=lambda: self.plant.i)
        self.ev = ev
        self.evs.append(ev)
        self.car_closed = False
        self._open_req_at = None
        self.pilot.s2 = None

    def _car(self, now):
        pwm_on, duty, _f = self.pilot_out()
        ev = self.ev
        if ev is None or ev.done:
            # a car (re)starts its V2G session when the pilot shows 5 % again
            if self.plugged and pwm_on and duty == 50 and (ev is None or not self._pwm_seen):
                self.pwm_at.append(now)
                if self.net is not None:
                    self.net.start_slac(now)     # the car sees 5 %: SLAC first
                self._new_ev()
                ev = self.ev
            if not pwm_on:
                self._pwm_seen = False
        if ev is None:
            return
        if pwm_on:
            self._pwm_seen = True
        ev.soc = self.battery.soc
        net = self.net
        if net is not None and not ev.done and net.state in ("slac", "keys"):
            # the box gave up on this association (E/F step, or X1): the car starts over on 5 %
            if not pwm_on:
                self._slac_broken = True
            elif self._slac_broken and duty == 50:
                self._slac_broken = False
                self.pwm_at.append(now)
                net.start_slac(now)
        if net is not None and net.state in ("slac", "keys"):
            ph = "SLAC"                  # the EVCC waits for its modem to join the box's AVLN
        else:
            if now % EVCC_TICK_MS == 0 and not ev.done and (net is None or net.up):
                ev.step(now)
            ph = ev.phase
        if not self.phases or self.phases[-1][1] != ph:
            self.phases.append((now, ph))
        if ph in ("CableCheck", "PreCharge", "PowerDeliveryStart", "CurrentDemand"):
            self.pilot.s2 = "C"
        elif ph in ("WeldingDetection", "SessionStop"):
            self.pilot.s2 = None
        # the car's contactors
        if ph in ("PowerDeliveryStart", "CurrentDemand") and not ev.done:
            self.car_closed = True
            self._open_req_at = None
        elif self.car_closed:
            if self._open_req_at is None:
                self._open_req_at = now
            if self.plant.i < 1.0 or now - self._open_req_at >= CAR_OPEN_TIMEOUT_MS:
                self.car_closed = False

    # ------------------------------------------------------------ simulation
    def step(self):
        self.boot()
        now = self.now
        for h in list(self.hooks):
            if h[0] <= now:
                self.hooks.remove(h)
                h[1](self)
        self._car(now)
        if self.net is not None:
            self.net.step(now)
        plant = self.plant
        plant.receive()
        plant.step(now, self.car_closed, self.battery.ocv(), self.battery.r)
        if self.car_closed:
            self.battery.draw(plant.i, 1)
        if now % PILOT_SAMPLE_MS == 0:
            hi, lo = self.pilot.plateaus(*self.pilot_out())
            self.app.power.pilot_sample(hi, lo, now)
        while self.app.next_wake_ms() <= now:
            self.app.step()
        if now % 10 == 5:
            self.app.power.safety.monitor(now)
        self.hal.can["service"].drain()
        if plant.p_ac > self.max_p_ac:
            self.max_p_ac = plant.p_ac
        on = plant.p_ac > 0
        if on != self._ac_live:
            self.ac_edges.append((now, on))
            self._ac_live = on
        st = self.state
        if st != self.states[-1][1]:
            self.states.append((now, st))
        self.clock.advance(1)

    # the discharge rig's runners (one step = 1 ms)
    run = DischargeRig.run
    run_until = DischargeRig.run_until


def run_session(car=None, cfg=None, max_ms=200000, **kw):
    """Plug, start, run until the V2G session is over and the box has let go
    (ReadyToUnplug, Fault, Lockout) or max_ms. Returns the rig."""
    r = CcsRig(car, cfg, **kw)
    r.plug()
    r.run(300)                  # pilot debounce: the box sees the car (B)
    r.start()
    end = (T.READY_TO_UNPLUG, T.FAULT, T.LOCKOUT)
    r.run_until(lambda r: r.ev is not None and r.ev.done and r.state in end and not r.power.active, max_ms)
    return r


# ---------------------------------------------------------------- plug-in to CurrentDemand, by phase
# (phase name, from mark, to mark); contiguous: they add up to B detected .. first CurrentDemandReq
PHASES = (
    ("5 % pilot (user start at B, oscillator on)", "b", "pwm5"),
    ("SLAC: car starts (CM_SLAC_PARM.REQ)", "pwm5", "parm"),
    ("SLAC: PARM.REQ .. SLAC_MATCH.CNF", "parm", "match"),
    ("link up: car's modem joins the AVLN (SET_KEY)", "match", "up"),
    ("SDP: request .. response", "up", "sdp"),
    ("ND: NS .. NA for the SECC's address", "sdp", "na"),
    ("TCP connect: SYN .. SYN+ACK", "na", "synack"),
    ("SupportedAppProtocol (to SessionSetupReq)", "synack", "SessionSetupReq"),
    ("SessionSetup .. ChargeParameterDiscovery", "SessionSetupReq", "CableCheckReq"),
    ("CableCheck", "CableCheckReq", "PreChargeReq"),
    ("PreCharge", "PreChargeReq", "PowerDeliveryReq"),
    ("PowerDelivery (to the first CurrentDemandReq)", "PowerDeliveryReq", "CurrentDemandReq"),
)
LINK_MARKS = (("parm", "CM_SLAC_PARM.REQ", "ev"), ("match", "CM_SLAC_MATCH.CNF", "evse"),
              ("sdp_req", "SDP request", "ev"), ("sdp", "SDP response", "evse"), ("ns", "NS", "ev"),
              ("na", "NA", "evse"), ("syn", "TCP SYN", "ev"), ("synack", "TCP SYN+ACK", "evse"))


def link_marks(r, since):
    """The link milestones of the V2G session whose 5 % pilot came at `since`:
    frames on the simulated line (time put on the line) and the car's link-up."""
    net = r.net
    m = {}
    t = since
    for name, kind, who in LINK_MARKS:
        x = net.first(kind, who, t)
        if x is None:
            break
        m[name] = t = x
    if net.up_at is not None and net.up_at >= since:
        m["up"] = net.up_at
    return m


def plug_to_loop(car=None, cfg=None, max_ms=60000, **kw):
    """CP state B (the box's pilot core detects the car) to the first
    CurrentDemandReq received by the SECC, on the full link, the user starting
    as soon as the box sees the car. -> (rig, marks {name: ms}, phases
    [(name, ms)], total_ms). Box-side marks: pilot B, SECC request times;
    link marks: frames on the simulated line."""
    r = CcsRig(car, cfg, **kw)
    r.boot()
    r.plug()
    core = [None]

    def b_seen(rig):
        return rig.power.pilot.state == "B"
    r.run_until(b_seen, 5000)
    b = [t for t, e in r.power.link_log if e[0] == "pilot" and e[2] == "B"][0]
    r.start()

    def cd_seen(rig):
        c = rig.power._core()
        if c is not None:
            core[0] = c
        return c is not None and "CurrentDemandReq" in c.phase_at
    r.run_until(cd_seen, max_ms)
    c = core[0]
    if c is None or "CurrentDemandReq" not in c.phase_at:
        raise RuntimeError("no CurrentDemandReq within %d ms: %s / %s" % (max_ms, r.ev and r.ev.log, r.power.log))
    marks = {"plug": r.plug_at, "b": b, "pwm5": r.pwm_at[0]}
    marks.update(link_marks(r, r.pwm_at[0]))
    for k, v in c.phase_at.items():
        marks[k] = c.t0 + v
    phases = []
    for name, a, z in PHASES:
        if a not in marks or z not in marks:
            raise RuntimeError("phase %r: mark missing (%s)" % (name, sorted(marks)))
        phases.append((name, marks[z] - marks[a]))
    return r, marks, phases, marks["CurrentDemandReq"] - b
