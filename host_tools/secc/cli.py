"""`v2xbox secc`: the box firmware's SECC on CPython, on a network interface.

    v2xbox secc --iface veth-box [--protocols din,iso2,iso20dc] [--transport kernel|raw] [--sessions N]
                [--profile auto|NAME] [--loops N] [--timeout S] [--pcap FILE]
                [--tls --cert-dir DIR [--tls-verify-client] [--tls-min 1.2|1.3]]

Runs the firmware SECC core (firmware/protocols/ccs/secc.py) with the kernel-socket
transport and a simulated power stage / precharge source (firmware/protocols/ccs/port.py
SimPort), and prints one JSON line per finished session: protocol, car profile, the
ordered requests answered (runs of [name, count]), loop counts, phase timings, energy,
how it ended, and the SECC's request-in to response-out times for CurrentDemand.
Exit 0 after N sessions, 1 on --timeout first, 2 on bad arguments.

--transport raw: the box's own IPv6/ND/UDP/TCP stack (firmware/protocols/ccs/net/, as on the
MCU) instead of kernel sockets, on an AF_PACKET socket bound to --iface (host_tools/secc/raw.py;
root or CAP_NET_RAW). The interface's MAC is the stack's MAC, randomness from os.urandom. The
kernel's IPv6 on --iface would fight the stack for the same address, so it is switched off while
the SECC runs (said on stderr, restored at exit) or, when that is not permitted, the CLI exits 2.
--tls works on it too: Python's ssl over memory BIOs on the stack's TCP stream (CPython only).
--pcap FILE writes every frame of the run (`v2xbox v2g decode` reads it).

--tls opens a second, TLS listener (certificates from --cert-dir, laid out as
host_tools/secc/pki.py writes them) that SDP advertises with security 0x00 to an EV asking
for TLS; plain TCP stays for EVs that ask for it (DIN has no TLS), but ISO 15118-20 is then
only selected on TLS connections, and TLS is 1.3 only when iso20dc is offered ([V2G20-2356]).
Refused TLS handshakes are logged to stderr as {"tls_refused": reason} lines.
"""
import json
import signal
import sys
import time

import firmware  # noqa: F401
from firmware.protocols.ccs import port as P
from firmware.protocols.ccs import profiles, sap
from firmware.protocols.ccs.secc import IMPLEMENTED, Secc


def add_parser(subparsers):
    p = subparsers.add_parser("secc", help="run the box's SECC (DIN 70121 / ISO 15118-2 / -20 DC) on an interface, "
                                           "simulated power stage; one JSON line per session")
    p.add_argument("--iface", required=True,
                   help="kernel transport: an interface with an fe80:: address (e.g. a veth end); raw: an Ethernet interface")
    p.add_argument("--protocols", default="din",
                   help="comma-separated preference order of %s (implemented: %s)" % (
                       ",".join(sorted(sap.PROTOCOLS)), ",".join(IMPLEMENTED)))
    p.add_argument("--ev-priority", action="store_true", help="pick the EV's preferred protocol, not ours")
    p.add_argument("--transport", default="kernel", choices=("kernel", "raw"),
                   help="kernel sockets, or raw: the box's own IPv6/TCP stack on an AF_PACKET socket "
                        "(root or CAP_NET_RAW; the kernel's IPv6 on --iface is switched off meanwhile)")
    p.add_argument("--sessions", type=int, default=1, help="exit after this many sessions (0: run until killed)")
    p.add_argument("--profile", default="auto", help="auto or one of: " + ", ".join(profiles.names()))
    p.add_argument("--loops", type=int, default=0,
                   help="answer EVSE_Shutdown after this many CurrentDemand loops (0: the car decides)")
    p.add_argument("--soc-floor", type=int, default=None,
                   help="stop the discharge at this EVRESSSOC, %% (default: the car profile's, 20)")
    p.add_argument("--j2847", choices=("V2H", "V2G"), default=None,
                   help="ISO 15118-2: offer the SAE J2847/2 value-added service (negative limits, minimum SoC)")
    p.add_argument("--iso20-control", choices=("dynamic", "scheduled"), default="dynamic",
                   help="ISO 15118-20: ControlMode of the offered DC / DC_BPT parameter sets")
    p.add_argument("--tcp-port", type=int, default=0, help="TCP port (0: any free port)")
    p.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    p.add_argument("--load-w", type=float, default=3600.0, help="simulated AC load, W")
    p.add_argument("--tls", action="store_true", help="also listen for TLS (SDP security 0x00); -20 only over TLS")
    p.add_argument("--cert-dir", default=None, help="with --tls: secc_chain.pem, secc.key.pem, v2g_root.pem")
    p.add_argument("--tls-verify-client", action="store_true",
                   help="with --tls: require a client certificate chaining to --tls-client-ca (mutual auth)")
    p.add_argument("--tls-client-ca", default=None,
                   help="with --tls-verify-client: CA file for the EV's chain (default: DIR/v2g_root.pem; -20: the OEM root)")
    p.add_argument("--tls-min", choices=("auto", "1.2", "1.3"), default="auto",
                   help="lowest TLS version (auto: 1.3 when iso20dc is offered, else 1.2)")
    p.add_argument("--pcap", default=None, help="with --transport raw: write every frame of the run to this pcap file")
    p.set_defaults(func=run)
    return p


class TimedTransport:
    """Wraps a transport: wall time from the poll that delivered a request's bytes to the
    send of the response, per request name (the SECC's whole decode-handle-encode path)."""

    def __init__(self, inner):
        self.inner = inner
        self.label = lambda: None
        self.t_in = None
        self.times = []           # (request name, ms)

    def poll(self, now):
        ev = self.inner.poll(now)
        for e in ev:
            if e[0] == "data":
                self.t_in = time.perf_counter()
        return ev

    def send(self, cid, data):
        if self.t_in is not None:
            self.times.append((self.label(), (time.perf_counter() - self.t_in) * 1000.0))
            self.t_in = None
        self.inner.send(cid, data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


DRAIN_S = 2.0     # raw transport, after the last session: time for the TCP close handshake


def _pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))], 3)


def run(args):
    protos = [x.strip() for x in args.protocols.split(",") if x.strip()]
    bad = [x for x in protos if x not in sap.PROTOCOLS]
    if bad or not protos:
        print("v2xbox secc: unknown protocol(s) %s; choose from %s" % (bad or protos, sorted(sap.PROTOCOLS)),
              file=sys.stderr)
        return 2
    if not any(x in IMPLEMENTED for x in protos):
        print("v2xbox secc: none of %s is implemented yet (implemented: %s)" % (protos, list(IMPLEMENTED)),
              file=sys.stderr)
        return 2
    if args.profile != "auto" and args.profile not in profiles.names():
        print("v2xbox secc: unknown profile %r; choose from %s" % (args.profile, profiles.names()), file=sys.stderr)
        return 2
    if args.soc_floor is not None and not 0 <= args.soc_floor <= 100:
        print("v2xbox secc: --soc-floor must be 0..100", file=sys.stderr)
        return 2
    for name in ("sessions", "loops", "timeout"):
        if getattr(args, name) < 0:         # 0 means "no limit"; a negative count is a typo
            print("v2xbox secc: --%s must be >= 0 (0: no limit)" % name, file=sys.stderr)
            return 2
    if not args.load_w >= 0:                 # also NaN
        print("v2xbox secc: --load-w must be >= 0 W", file=sys.stderr)
        return 2
    if args.pcap and args.transport != "raw":
        print("v2xbox secc: --pcap records the raw transport's frames; use it with --transport raw", file=sys.stderr)
        return 2
    ctx = None
    if args.tls or args.cert_dir:
        import ssl
        from host_tools.secc.kernel_transport import server_context
        if not (args.tls and args.cert_dir):
            print("v2xbox secc: --tls and --cert-dir go together", file=sys.stderr)
            return 2
        tls_min = args.tls_min if args.tls_min != "auto" else ("1.3" if "iso20dc" in protos else "1.2")
        if "iso20dc" in protos and tls_min != "1.3":
            print("v2xbox secc: ISO 15118-20 needs TLS 1.3 ([V2G20-2356]); --tls-min %s refused" % tls_min,
                  file=sys.stderr)
            return 2
        try:
            ctx = server_context(args.cert_dir, tls_min, args.tls_verify_client, args.tls_client_ca)
        except (OSError, ssl.SSLError, ValueError) as e:
            print("v2xbox secc: cannot load TLS certificates from %s: %s" % (args.cert_dir, e), file=sys.stderr)
            return 2
    if not 0 <= args.tcp_port <= 65535:
        print("v2xbox secc: --tcp-port must be 0..65535", file=sys.stderr)
        return 2
    cap = None
    ipv6 = None
    if args.transport == "raw":
        from host_tools.secc import raw
        if args.pcap:
            from host_tools.v2g import pcap
            try:
                cap = pcap.PcapWriter(args.pcap)       # streamed: a long run does not pile up in memory
            except OSError as e:
                print("v2xbox secc: cannot write %s: %s" % (args.pcap, e.strerror or e), file=sys.stderr)
                return 2
        try:
            t = raw.RawHostTransport(args.iface, args.tcp_port, recorder=cap.write if cap is not None else None)
        except raw.LinkError as e:
            if cap is not None:
                cap.close()
            print("v2xbox secc: %s" % e, file=sys.stderr)
            return 2
        ipv6 = raw.KernelIPv6(args.iface)
        if ipv6.enabled():
            try:
                ipv6.disable()
            except raw.LinkError as e:
                t.shutdown()
                if cap is not None:
                    cap.close()
                print("v2xbox secc: %s" % e, file=sys.stderr)
                return 2
            print("v2xbox secc: switched the kernel's IPv6 off on %s while the box's own stack runs there "
                  "(back on at exit)" % args.iface, file=sys.stderr, flush=True)
        if ctx is not None:
            t = raw.RawTlsTransport(t, ctx)
    else:
        from host_tools.secc.kernel_transport import KernelTransport
        try:
            t = KernelTransport(args.iface, args.tcp_port, tls_context=ctx)
        except OSError as e:
            print("v2xbox secc: interface %s: %s" % (args.iface, e), file=sys.stderr)
            return 2
    extra = {"transport": args.transport}
    if ipv6 is not None:
        extra["kernel_ipv6"] = "switched off" if ipv6.restore is not None else "off"
    try:
        return _serve(args, protos, t, ctx, extra)
    finally:
        if ipv6 is not None:
            ipv6.restore_on_exit()
        if cap is not None:
            cap.close()


def _serve(args, protos, t, ctx, extra):
    import os
    port = P.SimPort(load_w=args.load_w)
    cfg = {"protocols": protos, "ev_priority": args.ev_priority, "profile": args.profile,
           "stop_after_loops": args.loops, "soc_floor": args.soc_floor, "j2847": args.j2847, "iso20_control": args.iso20_control, "session_id_fn": lambda: os.urandom(8),
           "iso20_tls_only": ctx is not None}
    tt = TimedTransport(t)
    secc = Secc(tt, port, cfg)
    tt.label = secc.last_request
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):     # a clean stop: connections closed, kernel IPv6 restored
        signal.signal(sig, lambda *_: stopping.append(1))
    clock = time.monotonic
    t0 = clock()
    try:
        secc.open(0.0)
    except OSError as e:
        print("v2xbox secc: cannot open the transport on %s: %s" % (args.iface, e), file=sys.stderr)
        return 2
    print(json.dumps({"listening": args.iface, "tcp_port": t.tcp_port,
                      "tls_port": t.tls_port if ctx is not None else None}), file=sys.stderr, flush=True)
    n_refused = 0
    done = 0
    rc = 0
    drain_until = None
    iterations = 0
    try:
        while not stopping:
            iterations += 1
            now = (clock() - t0) * 1000.0
            secc.step(now)
            while len(t.tls_failures) > n_refused:
                print(json.dumps({"tls_refused": t.tls_failures[n_refused]}), file=sys.stderr, flush=True)
                n_refused += 1
            while len(secc.records) > done:
                rec = dict(secc.records[done])
                rec.update(extra)
                if getattr(t, "counters", None) is not None:
                    rec["net"] = t.counters()       # raw: the box stack's counters so far
                if rec.get("tls") and t.tls_sessions:     # one V2G connection at a time: the latest handshake
                    rec["tls_version"], rec["tls_cipher"] = t.tls_sessions[-1][1], t.tls_sessions[-1][2]
                cd = [ms for name, ms in tt.times if name in ("CurrentDemandReq", "DC_ChargeLoopReq")]
                rec["currentdemand_response_ms_p50"] = _pct(cd, 0.5)
                rec["currentdemand_response_ms_p99"] = _pct(cd, 0.99)
                rec["currentdemand_response_ms_max"] = round(max(cd), 3) if cd else None
                tt.times = []
                done += 1
                print(json.dumps(rec, default=str), flush=True)
            if args.sessions and done >= args.sessions:
                busy = getattr(t, "busy", None)
                if busy is None:
                    break           # kernel sockets: the kernel finishes the close after exit
                if drain_until is None:
                    # the box's own stack has no kernel to finish the TCP close after the process
                    # exits: close now (the SECC would after its linger) and wait for the FIN's ACK
                    drain_until = clock() + DRAIN_S
                    if secc.conn is not None:
                        t.close(secc.conn.cid)
                if not busy() or clock() > drain_until:
                    break
            if args.timeout and clock() - t0 > args.timeout:
                print("v2xbox secc: timeout after %.0f s with %d session(s)" % (args.timeout, done), file=sys.stderr)
                rc = 1
                break
            nt = secc.next_timer(now)
            t.wait(0.05 if nt is None else min(0.05, nt / 1000.0))
    finally:
        t.shutdown()
    if args.transport == "raw":      # the loop sleeps on the socket and the timers, never spins
        print(json.dumps({"stopped": args.iface, "loop_iterations": iterations, "run_s": round(clock() - t0, 3)}),
              file=sys.stderr, flush=True)
    return rc
