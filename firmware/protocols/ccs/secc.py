"""The SECC application core: transport events -> SDP, V2GTP, EXI, SupportedAppProtocol
and the protocol state machine; responses back. Sans-IO apart from the transport and
port objects it is given (both polled, neither blocks). MicroPython-compatible.

    secc = Secc(transport, port, cfg)
    secc.open(now)
    secc.step(now)               # call often (the transport's and the core's timers)
    secc.records                 # one dict per finished session (the CLI prints them as JSON)

cfg keys: protocols (order, names of sap.PROTOCOLS; default din, iso2, iso20dc, of which
all three are implemented), ev_priority (bool), profile ("auto" or a name in profiles.py),
evse_id (bytes), stop_after_loops (int or 0: user stop after that many CurrentDemand
loops, for tests and the CLI's bounded sessions), session_id_fn (callable -> 8 bytes),
soc_floor (%, overrides the profile's).

One V2G connection at a time: a second connection while one is active is closed.
A V2GTP header error or an EXI that does not decode ends the session (the connection is
closed and the port told to stop); the reason goes into the session record.
"""
from firmware.protocols.ccs import profiles, sap, sdp, v2gtp
from firmware.protocols.ccs.din import dc as din_dc
from firmware.protocols.ccs.iso2 import dc as iso2_dc
from firmware.protocols.ccs.iso20 import dc as iso20_dc
from firmware.v2g.exi import EXIError, codec_for

IMPLEMENTED = ("din", "iso2", "iso20dc")
CORES = {"din": din_dc.DinSecc, "iso2": iso2_dc.Iso2Secc, "iso20dc": iso20_dc.Iso20Secc}
_ISO20_TYPES = {"iso20": v2gtp.ISO20_MAIN, "iso20dc": v2gtp.ISO20_DC}
SESSION_STOP_LINGER_MS = 5000   # close TCP if the EV does not, after SessionStopRes ([V2G20-1643]: 5 s)
SAP_TIMEOUT_MS = 20000          # V2G_EVCC_CommunicationSetup_Timeout 20 s (sheet §6)


class _Conn:
    def __init__(self, cid, now):
        self.cid = cid
        self.deframer = v2gtp.Deframer()
        self.proto = None          # None until SAP done
        self.core = None
        self.since = now
        self.ended_at = None
        self.offered = []
        self.record = None
        self.lenient = []          # EXI deviations accepted from this car


class Secc:
    def __init__(self, transport, port, cfg=None):
        cfg = cfg or {}
        self.t = transport
        self.port = port
        self.cfg = cfg
        order = cfg.get("protocols") or sap.DEFAULT_ORDER
        self.order = tuple(p for p in order if p in IMPLEMENTED)
        self.ev_priority = bool(cfg.get("ev_priority", False))
        self.profile_name = cfg.get("profile", "auto")
        self.stop_after_loops = cfg.get("stop_after_loops", 0)
        self._sid = cfg.get("session_id_fn")
        self.sdp = None
        self.conn = None
        self.records = []
        self.log = []              # (now, text) notable events
        self._n = 0

    def open(self, now):
        self.t.open(now)
        addr, port = self.t.local_endpoint()
        # a transport with TLS (optional contract part) advertises its TLS port with security 0x00
        # to an EV that asks for TLS (sdp.py; ISO 15118-2 §7.10.1)
        tls = getattr(self.t, "tls_endpoint", None)
        tls = tls() if tls is not None else None
        self.sdp = sdp.SdpServer(addr, port, tls[1] if tls is not None else None)

    # ------------------------------------------------------------ main loop
    def step(self, now):
        for ev in self.t.poll(now):
            kind = ev[0]
            if kind == "sdp":
                srv = self.sdp
                reply = srv.handle(ev[2]) if srv is not None else None
                if reply is not None:
                    self.t.send_sdp(ev[1], reply)
            elif kind == "connected":
                if self.conn is not None:
                    self.log.append((now, "second connection %d closed" % ev[1]))
                    self.t.close(ev[1])
                else:
                    self.conn = _Conn(ev[1], now)
            elif kind == "data":
                c = self.conn
                if c is not None and c.cid == ev[1]:
                    self._data(c, ev[2], now)
            elif kind == "closed":
                c = self.conn
                if c is not None and c.cid == ev[1]:
                    self._finish(c, "connection closed (%s)" % ev[2], now)
        c = self.conn
        if c is not None and c.ended_at is None:
            core = c.core
            if core is not None:
                res = core.poll(now)
                if res is not None:
                    self._send(c, res, now)
                core.handle_timer(now)
                if core.ended and c.ended_at is None:
                    c.ended_at = now
                    self._record(c, core.end_reason, now)
            elif now - c.since > SAP_TIMEOUT_MS:
                self._close(c, "no supportedAppProtocolReq", now)
        if c is not None and c.ended_at is not None and self.conn is c:
            if now - c.ended_at >= (SESSION_STOP_LINGER_MS if c.core is not None and c.core.end_reason == "session stop"
                                    else 0):
                self._close(c, c.core.end_reason if c.core is not None else "ended", now)
        self.port_step(now)

    def port_step(self, now):
        st = getattr(self.port, "step", None)
        if st is not None:
            st(now)

    def next_timer(self, now):
        c = self.conn
        n = self.t.next_timer()
        if c is not None and c.core is not None:
            m = c.core.next_timer(now)
            if m is not None and (n is None or m < n):
                n = m
        if c is not None and c.ended_at is not None:
            n = 10 if n is None else min(n, 10)
        return n

    def last_request(self):
        """Name of the request the running session handled last (for host-side timing)."""
        c = self.conn
        if c is None or c.core is None or not c.core.order:
            return None
        return c.core.order[-1][0]

    def stop(self, reason="user-stop"):
        """User stop: the running session answers EVSE_Shutdown from its next response on."""
        c = self.conn
        if c is not None and c.core is not None:
            c.core.stop(reason)

    def end(self, reason, now):
        """The box ends the running session now (closes the connection; recorded with `reason`)."""
        c = self.conn
        if c is not None:
            self._close(c, reason, now)

    # ------------------------------------------------------------ messages
    def _data(self, c, data, now):
        try:
            c.deframer.feed(data)
            while c.ended_at is None:
                m = c.deframer.next()
                if m is None:
                    break
                self._message(c, m[0], m[1], now)
        except v2gtp.V2GTPError as e:
            self._close(c, "V2GTP: %s" % e, now)

    def _message(self, c, ptype, payload, now):
        schema = c.proto
        if c.proto == "iso20dc":
            schema = "iso20" if ptype == v2gtp.ISO20_MAIN else "iso20dc" if ptype == v2gtp.ISO20_DC else None
            if schema is None:
                self._close(c, "unexpected V2GTP payload type 0x%04x for ISO 15118-20 DC" % ptype, now)
                return
        elif ptype != v2gtp.EXI:
            self._close(c, "unexpected V2GTP payload type 0x%04x" % ptype, now)
            return
        if c.proto is None:
            try:
                msg = codec_for("app").decode(payload)
                req = msg["supportedAppProtocolReq"]
            except (EXIError, KeyError, TypeError) as e:
                self._close(c, "bad supportedAppProtocolReq: %s" % e, now)
                return
            order = self.order
            if self.cfg.get("iso20_tls_only") and not self._secure(c):
                # ISO 15118-20 only over TLS 1.3: the SECC must not select it on plain TCP
                # ([V2G20-2356], reference sheet §8); the transport's TLS context enforces 1.3
                order = tuple(p for p in order if not p.startswith("iso20"))
            res, proto, offered = sap.select(req, order, self.ev_priority)
            c.offered = offered
            self._send_exi(c, "app", res, now)
            if proto is None:
                self._close(c, "no common protocol in %s" % (offered,), now)
                return
            c.proto = proto
            prof = profiles.recognise(offered) if self.profile_name == "auto" else profiles.get(self.profile_name)
            prof = self._override(prof)
            sid = self._sid() if self._sid is not None else None
            c.core = CORES[proto](self.port, prof, self.cfg, sid)
            self.log.append((now, "SAP: %s chosen from %s, profile %s" % (proto, offered, prof["name"])))
            return
        codec = codec_for(schema)
        try:
            msg = codec.decode(payload)
        except EXIError as e:
            self._close(c, "EXI decode error: %s" % e, now)
            return
        for w in codec.warnings:      # accepted like EXIficient does, but never silently
            c.lenient.append(w)
            self.log.append((now, "EXI leniency: %s" % w))
        core = c.core
        res = core.request(msg, now)
        if self.profile_name == "auto" and core.counts.get("SessionSetupReq") == 1 and core.state == din_dc.WAIT_SERVICE_DISCOVERY \
                and core.profile["name"] == "generic":
            core.profile = self._override(profiles.recognise(c.offered, None, core.ev["evccid"]))
        if self.stop_after_loops and core.cd_count >= self.stop_after_loops:
            core.stop("loop-count")
        if res is not None:
            self._send(c, res, now)
        if core.ended and c.ended_at is None:
            c.ended_at = now
            self._record(c, core.end_reason, now)

    def _secure(self, c):
        f = getattr(self.t, "is_secure", None)
        return f is not None and f(c.cid)

    def _override(self, prof):
        """Site settings over the car profile (cfg "soc_floor")."""
        if self.cfg.get("soc_floor") is not None:
            prof = dict(prof)
            prof["soc_floor"] = self.cfg["soc_floor"]
        return prof

    def _send(self, c, res, now):
        if c.proto == "iso20dc":
            for root in res:
                schema = iso20_dc.schema_of(root)
                self._send_exi(c, schema, res, now, _ISO20_TYPES[schema])
            return
        self._send_exi(c, c.proto, res, now)

    def _send_exi(self, c, schema, msg, now, ptype=v2gtp.EXI):
        try:
            data = codec_for(schema).encode(msg)
        except EXIError as e:    # a bug on our side: never send half a message
            self._close(c, "cannot encode response: %s" % e, now)
            return
        self.t.send(c.cid, v2gtp.frame(ptype, data))

    # ------------------------------------------------------------ ends
    def _close(self, c, reason, now):
        self.t.close(c.cid)
        self._finish(c, reason, now)

    def _finish(self, c, reason, now):
        if self.conn is not c:
            return
        self.conn = None
        core = c.core
        if core is not None and not core.ended:
            core._end(reason, now)
        self.port.stop()
        self._record(c, reason, now)

    def _record(self, c, reason, now):
        """The session record, once per connection: when the session ends (the response to
        SessionStop is out, or a FAILED one) or else when the connection goes."""
        if c.record is not None:
            return
        core = c.core
        self._n += 1
        rec = {"session": self._n, "protocol": c.proto, "offered": c.offered, "tls": self._secure(c),
               "profile": core.profile["name"] if core is not None else None,
               "ended": core.end_reason if core is not None and core.end_reason else reason,
               "stop_requested": core.stop_requested if core is not None else "",
               "requests": core.order if core is not None else [],
               "current_demand_loops": core.cd_count if core is not None else 0,
               "phase_ms": core.phase_at if core is not None else {},
               "duration_ms": now - c.since,
               "energy_wh": round(self.port.energy_wh(), 3),
               "exi_lenient": c.lenient}
        c.record = rec
        self.records.append(rec)
