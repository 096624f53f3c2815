"""The CCS / NACS link layer composed: pilot, SLAC and the IP transport on one
modem link, for the app. Sans-IO except for the transport's link I/O (the
transport is the edge; everything else is fed from here).

    link = CcsLink(frame_link, mac, rng)
    events = link.step(now, cp_high_mv, cp_low_mv)   # every pilot sample / loop pass
    link.cp.request() -> (cp_pwm_on, cp_duty_pm, cp_state_f) for the supervisor's Cmd

Wiring: a car seen on the pilot (A -> B/C/D) starts SLAC with a fresh NMK and
opens the transport (SDP + TCP listen); unplug (-> A) stops SLAC; SLAC's
"ef_step" request becomes the pilot's E/F step; the car's modem counts as
joined (SLAC link_up) once an IPv6 frame from the matched car arrives. SLAC
frames (0x88E1) reach SLAC through the transport's `other` hook.

Events out: the transport's ("sdp" | "connected" | "data" | "closed", ...)
plus ("pilot", old, new, t), ("pilot_fault", reason), ("slac", name, ...).
"""
from firmware.protocols.ccs import cp as cpm
from firmware.protocols.ccs.net.raw_transport import RawTransport
from firmware.protocols.ccs.slac import evse as se


class CcsLink:
    def __init__(self, frame_link, mac, rng, tcp_port=None, slac_kwargs=None, auto_slac=True):
        self.link = frame_link
        self.cp = cpm.ControlPilot()
        self.slac = se.SlacEvse(mac, rng, **(slac_kwargs or {}))
        self.transport = RawTransport(frame_link, mac, rng, tcp_port=tcp_port, other=self._other)
        self.auto_slac = auto_slac     # False: the app starts SLAC itself (start_slac) when it offers 5 %
        self._now = 0

    def _other(self, frame, now):
        self.slac.receive(frame, now)

    def step(self, now, cp_high_mv, cp_low_mv):
        self._now = now
        self.cp.sample(cp_high_mv, cp_low_mv, now)
        out = self.on_pilot(self.cp.events(), now)
        if self.transport.is_open:
            out.extend(self.transport.poll(now))
        else:
            self.drain()                      # before plug-in: keep the link drained
        self.service(now, out)
        return out

    def on_pilot(self, events, now):
        """The pilot core's events -> the wiring (plug-in: transport open and,
        with auto_slac, SLAC with a fresh NMK; unplug: SLAC stopped). Returns
        them as link events."""
        out = []
        for e in events:
            if e[0] == "state":
                out.append(("pilot", e[1], e[2], e[3]))
                if e[1] in (cpm.A, cpm.E, cpm.F) and e[2] in (cpm.B, cpm.C, cpm.D):
                    if not self.transport.is_open:
                        self.transport.open(now)
                    if self.auto_slac:
                        self.slac.start(now)
                elif e[2] == cpm.A:
                    self.slac.stop(now)
            else:
                out.append(("pilot_fault", e[1]))
        return out

    def start_slac(self, now):
        """A new association with a fresh NMK (the car is about to see 5 %)."""
        if not self.transport.is_open:
            self.transport.open(now)
        self.slac.start(now)

    def drain(self):
        while True:
            f = self.link.recv()
            if f is None:
                break

    def service(self, now, out):
        """SLAC's timers, the car's modem joining (link up), SLAC frames out,
        SLAC's E/F step request to the pilot; SLAC events appended to `out`.
        The transport is polled by its owner (step() here, or the SECC)."""
        slac = self.slac
        t = slac.next_timer()
        if t is not None and now >= t:
            slac.handle_timer(now)
        if slac.state == se.MATCHED and slac.ev_mac is not None:
            for m in self.transport.stack.nc.values():
                if m == slac.ev_mac:
                    slac.link_up(now)
                    out.append(("slac", "linked"))
                    break
        for f in slac.to_send(now):
            self.link.send(f)
        for e in slac.events():
            if e[0] == "ef_step":
                self.cp.ef_step(now, e[1])
            out.append(("slac",) + tuple(e))

    def session_stop(self, now):
        self.cp.session_stop(now)

    def next_timer(self):
        t = None
        for x in (self.cp.next_timer(), self.slac.next_timer(),
                  self.transport.due() if self.transport.is_open else None):
            if x is not None and (t is None or x < t):
                t = x
        return t
