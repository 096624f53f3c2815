"""`v2xbox log record|replay|convert|decode`: CAN logs in python-can's formats.

The format follows the file suffix, exactly as python-can's Logger and
LogReader choose it: .blf (Vector binary), .asc (Vector ASCII), .mf4
(ASAM MDF 4, through asammdf), .csv, .log (can-utils), .trc, .db (SQLite);
.gz compresses the text ones. Replay keeps the recorded timing
(python-can's MessageSync, as in `python -m can.player`) unless told not to.
`decode` prints a log through the project's DBCs with the fast host decoder.
"""
import json
import re
import sys
import time

import can

from host_tools import benchbus, dbcs

WRITE_SUFFIXES = (".asc", ".blf", ".csv", ".db", ".log", ".mf4", ".trc", ".txt")


def add_parser(sub):
    p = sub.add_parser("log", help="record, replay, convert and decode CAN logs (BLF, ASC, MF4, ...)")
    lsub = p.add_subparsers(dest="log_command", metavar="ACTION")
    lsub.required = True

    r = lsub.add_parser("record", help="record a bus into a log file (format from the suffix)")
    r.add_argument("out", help="output file: .blf .asc .mf4 .csv .log .trc .db (optionally .gz)")
    benchbus.add_bus_arguments(r)
    r.add_argument("--duration", type=float, help="stop after this many seconds")
    r.add_argument("--count", type=int, help="stop after this many frames")
    r.add_argument("--id", action="append", type=lambda s: int(s, 0), metavar="ID",
                   help="record only this frame ID (repeatable)")
    r.set_defaults(func=run_record)

    p2 = lsub.add_parser("replay", help="send a log onto a bus (recorded timing by default)")
    p2.add_argument("log", help="input log file")
    benchbus.add_bus_arguments(p2)
    p2.add_argument("--ignore-timestamps", action="store_true", help="send as fast as possible")
    p2.add_argument("--gap", type=float, default=0.0001, help="minimum gap between frames in s (default 0.0001)")
    p2.add_argument("--skip", type=float, default=60 * 60 * 24,
                    help="collapse silences longer than this many seconds (default: never)")
    p2.add_argument("--loop", type=int, default=1, metavar="N", help="play the log N times (default 1)")
    p2.add_argument("--id", action="append", type=lambda s: int(s, 0), metavar="ID",
                    help="replay only this frame ID (repeatable)")
    p2.set_defaults(func=run_replay)

    c = lsub.add_parser("convert", help="convert between log formats (by suffix)")
    c.add_argument("src")
    c.add_argument("dst")
    c.set_defaults(func=run_convert)

    d = lsub.add_parser("decode", help="print a log decoded with the project's DBCs")
    d.add_argument("log")
    d.add_argument("--dbc", action="append", metavar="NAME",
                   help="DBC(s) to decode with (default: all of %s)" % ", ".join(dbcs.dbc_names()))
    d.add_argument("--filter", metavar="REGEX", help="only messages/signals matching REGEX")
    d.add_argument("--id", action="append", type=lambda s: int(s, 0), metavar="ID")
    d.add_argument("--json", action="store_true", help="one JSON object per frame")
    d.set_defaults(func=run_decode)
    return p


def open_reader(path):
    """python-can LogReader; ASC files keep their absolute start time (the
    'Begin Triggerblock' header, ms resolution) instead of starting at 0."""
    p = str(path).lower()
    if p.endswith(".asc") or p.endswith(".asc.gz"):
        return can.LogReader(path, relative_timestamp=False)
    return can.LogReader(path)


def _check_out_suffix(path):
    p = path[:-3] if path.lower().endswith(".gz") else path
    if not p.lower().endswith(WRITE_SUFFIXES):
        raise ValueError("unknown log format for %r (use one of %s)" % (path, " ".join(WRITE_SUFFIXES)))


def _fail(what, e, code=2):
    print("log %s: %s" % (what, e), file=sys.stderr)
    return code


def record(bus, out_path, duration=None, count=None, ids=None):
    """Record from an open bus until duration/count; returns frames written."""
    ids = set(ids) if ids else None
    t_end = time.monotonic() + duration if duration else None
    n = 0
    with can.Logger(out_path) as logger:
        while True:
            if t_end is not None and time.monotonic() >= t_end:
                break
            msg = bus.recv(timeout=0.05)
            if msg is None:
                continue
            if ids is not None and msg.arbitration_id not in ids:
                continue
            if not (isinstance(msg.channel, int) and 0 <= msg.channel < 256):
                # BLF/MF4 store a small channel number; interfaces such as
                # virtual or remote report names or object ids: log as 0
                msg.channel = 0
            logger.on_message_received(msg)
            n += 1
            if count and n >= count:
                break
    return n


def run_record(args):
    try:
        _check_out_suffix(args.out)
    except ValueError as e:
        return _fail("record", e)
    try:
        bus = benchbus.bus_from_args(args)
    except Exception as e:  # python-can raises many types for a bad interface/channel
        return _fail("record", "cannot open CAN interface %s %s: %s" % (args.interface, args.channel, e), 3)
    try:
        n = record(bus, args.out, args.duration, args.count, args.id)
    except KeyboardInterrupt:
        n = None
    finally:
        bus.shutdown()
    if n is not None:
        print("log record: %d frames -> %s" % (n, args.out), file=sys.stderr)
    return 0


def replay(bus, path, ignore_timestamps=False, gap=0.0001, skip=86400.0, loops=1, ids=None):
    """Send a log onto an open bus; returns frames sent."""
    ids = set(ids) if ids else None
    n = 0
    for _ in range(loops):
        reader = open_reader(path)
        try:
            for msg in can.MessageSync(reader, timestamps=not ignore_timestamps, gap=gap, skip=skip):
                if msg.is_error_frame:  # a controller event, not something to transmit
                    continue
                if ids is not None and msg.arbitration_id not in ids:
                    continue
                bus.send(msg)
                n += 1
        finally:
            stop = getattr(reader, "stop", None)
            if stop:
                stop()
    return n


def run_replay(args):
    try:
        reader_ok = open_reader(args.log)
        getattr(reader_ok, "stop", lambda: None)()
    except Exception as e:
        return _fail("replay", "cannot read %s: %s" % (args.log, e))
    try:
        bus = benchbus.bus_from_args(args)
    except Exception as e:
        return _fail("replay", "cannot open CAN interface %s %s: %s" % (args.interface, args.channel, e), 3)
    try:
        n = replay(bus, args.log, args.ignore_timestamps, args.gap, args.skip, args.loop, args.id)
    except KeyboardInterrupt:
        return 130
    finally:
        bus.shutdown()
    print("log replay: %d frames from %s" % (n, args.log), file=sys.stderr)
    return 0


def convert(src, dst):
    """Copy every frame of src into dst (formats by suffix); returns frames."""
    _check_out_suffix(dst)
    n = 0
    reader = open_reader(src)
    try:
        with can.Logger(dst) as logger:
            for msg in reader:
                logger.on_message_received(msg)
                n += 1
    finally:
        getattr(reader, "stop", lambda: None)()
    return n


def run_convert(args):
    try:
        n = convert(args.src, args.dst)
    except Exception as e:
        return _fail("convert", e)
    print("log convert: %d frames %s -> %s" % (n, args.src, args.dst), file=sys.stderr)
    return 0


def run_decode(args):
    from host_tools.decoder import DecodeError, HostDecoder

    try:
        db = dbcs.load_many(args.dbc or dbcs.dbc_names())
        dec = HostDecoder(db)
        rx = re.compile(args.filter) if args.filter else None
        reader = open_reader(args.log)
    except (ValueError, re.error, OSError) as e:
        return _fail("decode", e)
    ids = set(args.id) if args.id else None
    n = unknown = bad = 0
    out = sys.stdout
    try:
        for msg in reader:
            fid = msg.arbitration_id
            if ids is not None and fid not in ids:
                continue
            if not dec.knows(fid):
                unknown += 1
                continue
            try:
                sig = dec.decode(fid, bytes(msg.data), choices=True)
            except DecodeError:
                bad += 1
                continue
            name = dec.names[fid]
            if rx is not None and not rx.search(name):
                sig = {k: v for k, v in sig.items() if rx.search(k)}
                if not sig:
                    continue
            n += 1
            if args.json:
                out.write(json.dumps({"t": msg.timestamp, "id": fid, "name": name, "signals": sig}) + "\n")
            else:
                out.write("%.6f 0x%03X %s %s\n" % (msg.timestamp, fid, name, " ".join(
                    "%s=%s" % (k, round(v, 6) if isinstance(v, float) else v) for k, v in sig.items())))
    except BrokenPipeError:
        return 0
    finally:
        getattr(reader, "stop", lambda: None)()
    print("log decode: %d decoded, %d unknown, %d undecodable" % (n, unknown, bad), file=sys.stderr)
    return 0
