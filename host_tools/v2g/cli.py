"""`v2xbox v2g decode FILE.pcap|.pcapng [--json]`: a CCS/NACS session timeline
from a capture: SLAC (with fields), neighbour discovery, SDP, TCP connection
events, V2GTP messages and their EXI content (schema from the appHandshake),
relative times. Unknown frames are listed; a bad or truncated capture prints
what could be read, then a clear error, and exits 2."""
import json
import sys

from host_tools.v2g import decode as dec
from host_tools.v2g import pcap


def add_parser(subparsers):
    p = subparsers.add_parser("v2g", help="CCS/NACS link: decode captures (SLAC, SDP, TCP, V2GTP, EXI)")
    sub = p.add_subparsers(dest="v2g_cmd", required=True)
    q = sub.add_parser("decode", help="print the session timeline of a pcap/pcapng capture")
    q.add_argument("capture", metavar="FILE", help=".pcap or .pcapng (Ethernet)")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=run)
    return p


def run(args, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    err = None
    try:
        frames = pcap.read_capture(args.capture)
    except pcap.CaptureError as e:
        err = e
        frames = getattr(e, "frames", [])
    d = dec.Decoder()
    for t, f in frames:
        d.feed(t, f)
    for e in d.events:
        if args.json:
            stdout.write(json.dumps(e, sort_keys=False, default=str) + "\n")
        else:
            stdout.write(dec.summary(e) + "\n")
    stdout.flush()
    if err is not None:
        stderr.write("v2xbox v2g decode: %s\n" % err)
        return 2
    if not frames:
        stderr.write("v2xbox v2g decode: %s holds no packets\n" % args.capture)
        return 2
    return 0
