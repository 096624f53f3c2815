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
    def __init__(self, frame_link, mac, rng, tcp_port=None, slac_kwargs=None):
        self.link = frame_link
        self.cp = cpm.ControlPilot()
        self.slac = se.SlacEvse(mac, rng, **(slac_kwargs or {}))
        self.transport = RawTransport(frame_link, mac, rng, tcp_port=tcp_port, other=self._other)
        self._now = 0

    def _other(self, frame, now):
        self.slac.receive(frame, now)

    def step(self, now, cp_high_mv, cp_low_mv):
        self._now = now
        out = []
        self.cp.sample(cp_high_mv, cp_low_mv, now)
        for e in self.cp.events():
            if e[0] == "state":
                out.append(("pilot", e[1], e[2], e[3]))
                if e[1] in (cpm.A, cpm.E, cpm.F) and e[2] in (cpm.B, cpm.C, cpm.D):
                    if not self.transport.is_open:
                        self.transport.open(now)
                    self.slac.start(now)
                elif e[2] == cpm.A:
                    self.slac.stop(now)
            else:
                out.append(("pilot_fault", e[1]))
        if self.transport.is_open:
            out.extend(self.transport.poll(now))
        else:
            while True:                       # before plug-in: keep the link drained
                f = self.link.recv()
                if f is None:
                    break
        t = self.slac.next_timer()
        if t is not None and now >= t:
            self.slac.handle_timer(now)
        if self.slac.state == se.MATCHED and self.slac.ev_mac is not None:
            for m in self.transport.stack.nc.values():
                if m == self.slac.ev_mac:
                    self.slac.link_up(now)
                    out.append(("slac", "linked"))
                    break
        for f in self.slac.to_send(now):
            self.link.send(f)
        for e in self.slac.events():
            if e[0] == "ef_step":
                self.cp.ef_step(now, e[1])
            out.append(("slac",) + tuple(e))
        return out

    def session_stop(self, now):
        self.cp.session_stop(now)

    def next_timer(self):
        t = None
        for x in (self.cp.next_timer(), self.slac.next_timer(),
                  self.transport.next_timer() if self.transport.is_open else None):
            if x is not None and (t is None or x < t):
                t = x
        return t
