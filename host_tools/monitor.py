"""`v2xbox monitor`: live decoded view of a CAN bus using the project's DBCs.

On a terminal it shows a table (last value per message, count, period,
age); otherwise, or with --lines/--json, one line per decoded frame, which
is what scripts and the demo read.
"""
import json
import re
import sys
import time

from host_tools import benchbus, dbcs


def add_parser(sub):
    p = sub.add_parser("monitor", help="live decoded view of a CAN bus")
    benchbus.add_bus_arguments(p)
    p.add_argument("--dbc", action="append", metavar="NAME",
                   help="DBC(s) to decode with (default: box); one of %s" % ", ".join(dbcs.dbc_names()))
    p.add_argument("--filter", metavar="REGEX", help="show only messages/signals matching REGEX")
    p.add_argument("--id", action="append", type=lambda s: int(s, 0), metavar="ID",
                   help="show only this frame ID (repeatable; 0x prefix for hex)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--count", type=int, help="stop after this many decoded frames")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per decoded frame")
    out.add_argument("--lines", action="store_true", help="one text line per decoded frame")
    p.set_defaults(func=run)
    return p


class Decoder:
    """Frame -> (message name, signals) with the ID/regex filters applied."""

    def __init__(self, db, ids=None, pattern=None):
        self.db = db
        self.ids = set(ids) if ids else None
        self.rx = re.compile(pattern) if pattern else None
        self.unknown = 0
        self.errors = 0

    def decode(self, msg):
        if self.ids is not None and msg.arbitration_id not in self.ids:
            return None
        try:
            m = self.db.get_message_by_frame_id(msg.arbitration_id)
        except KeyError:
            self.unknown += 1
            return None
        try:
            sig = m.decode(msg.data, decode_choices=True)
        except Exception:
            self.errors += 1
            return None
        if self.rx is not None:
            if self.rx.search(m.name):
                pass
            else:
                sig = {k: v for k, v in sig.items() if self.rx.search(k)}
                if not sig:
                    return None
        return m, sig


def _fmt(m, sig):
    parts = []
    for k, v in sig.items():
        s = m.get_signal_by_name(k)
        unit = (" " + s.unit) if s.unit else ""
        parts.append("%s=%s%s" % (k, v if not isinstance(v, float) else round(v, 3), unit))
    return " ".join(parts)


def run(args):
    try:
        db = dbcs.load_many(args.dbc or ["box"])
        dec = Decoder(db, args.id, args.filter)
    except (ValueError, re.error) as e:
        print("monitor: %s" % e, file=sys.stderr)
        return 2
    try:
        bus = benchbus.bus_from_args(args)
    except Exception as e:  # python-can raises many types for a bad interface/channel
        print("monitor: cannot open CAN interface %s %s: %s" % (args.interface, args.channel, e), file=sys.stderr)
        return 3
    live = not (args.json or args.lines) and sys.stdout.isatty()
    if not live:  # scripts (make demo) wait for this before they start the traffic
        print("monitor: listening on %s %s" % (args.interface, args.channel), file=sys.stderr, flush=True)
    try:
        return _loop(bus, dec, args, live)
    except KeyboardInterrupt:
        return 0
    finally:
        bus.shutdown()


def _loop(bus, dec, args, live):
    t_end = time.monotonic() + args.duration if args.duration else None
    n = 0
    table = {}  # frame id -> [name, text, count, last_t, period_ms]
    view = _LiveView() if live else None
    try:
        while True:
            if t_end is not None and time.monotonic() >= t_end:
                break
            msg = bus.recv(timeout=0.1)
            if msg is None:
                if view:
                    view.draw(table)
                continue
            r = dec.decode(msg)
            if r is None:
                continue
            m, sig = r
            n += 1
            if args.json:
                print(json.dumps({"t": msg.timestamp, "id": msg.arbitration_id, "name": m.name,
                                  "signals": {k: (str(v) if not isinstance(v, (int, float)) else v)
                                              for k, v in sig.items()}}), flush=True)
            elif not live:
                print("%.3f 0x%03X %s %s" % (msg.timestamp, msg.arbitration_id, m.name, _fmt(m, sig)), flush=True)
            else:
                row = table.get(msg.arbitration_id)
                period = (msg.timestamp - row[3]) * 1000 if row else 0.0
                table[msg.arbitration_id] = [m.name, _fmt(m, sig), (row[2] + 1) if row else 1, msg.timestamp, period]
                view.draw(table)
            if args.count and n >= args.count:
                break
    finally:
        if view:
            view.stop()
    if not live:
        print("monitor: %d decoded, %d unknown, %d undecodable" % (n, dec.unknown, dec.errors), file=sys.stderr)
    return 0


class _LiveView:
    def __init__(self):
        from rich.live import Live
        self._live = Live(refresh_per_second=8)
        self._live.start()
        self._last = 0.0

    def draw(self, table):
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        from rich.table import Table
        t = Table(title="v2xbox monitor  (Ctrl-C to quit)")
        for c in ("ID", "message", "signals", "count", "period ms"):
            t.add_column(c)
        for fid in sorted(table):
            name, text, count, _ts, period = table[fid]
            t.add_row("0x%03X" % fid, name, text, str(count), "%.1f" % period)
        self._live.update(t)

    def stop(self):
        self._live.stop()
