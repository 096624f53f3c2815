"""`v2xbox exi decode|encode`: EXI <-> JSON for V2G messages from the command line.

    v2xbox exi decode --schema din 809a0200...      -> JSON on stdout
    v2xbox exi encode --schema din '{"V2G_Message": ...}'  -> hex on stdout
    v2xbox exi decode --schema din -  < captures.txt  -> one JSON line per input line

With "-" every input line gives exactly one output line; a line that fails
gives {"error": "..."} and the run goes on (exit 0). Otherwise bad input
prints a message on stderr and exits 1.
"""
import binascii
import json
import sys

from host_tools.exi import jsonform

SCHEMA_CHOICES = ("app", "din", "iso2", "iso20", "iso20dc", "iso20ac")


def add_parser(subparsers):
    p = subparsers.add_parser("exi", help="encode/decode V2G EXI messages (SAP, DIN 70121, ISO 15118-2/-20)")
    sub = p.add_subparsers(dest="exi_cmd", required=True)
    for name, what in (("decode", "HEX"), ("encode", "JSON")):
        q = sub.add_parser(name, help="%s %s (or - for one per line on stdin)" % (name, what))
        q.add_argument("--schema", required=True, choices=SCHEMA_CHOICES,
                       help="app=SupportedAppProtocol, din, iso2, iso20=-20 CommonMessages and DC "
                            "(decoding tries CommonMessages first), iso20dc=-20 DC only, iso20ac=-20 AC")
        q.add_argument("data", metavar=what, help="%s, or - to read one per line from stdin" % what)
        q.set_defaults(func=run)
    return p


class InputError(Exception):
    pass


def _parse_hex(text):
    t = "".join(text.split())
    if t[:2] in ("0x", "0X"):
        t = t[2:]
    if not t:
        raise InputError("empty input")
    try:
        return binascii.unhexlify(t)
    except (binascii.Error, ValueError):
        raise InputError("not a hex string")


def _one(cmd, schema, text):
    """One conversion; returns the output line or raises InputError / EXIError."""
    if cmd == "decode":
        return jsonform.dumps(jsonform.decode(_parse_hex(text), schema))
    try:
        msg = json.loads(text)
    except ValueError as e:
        raise InputError("bad JSON: %s" % e)
    return binascii.hexlify(jsonform.encode(msg, schema)).decode()


def run(args, stdin=None, stdout=None, stderr=None):
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    cmd, schema = args.exi_cmd, args.schema
    if args.data != "-":
        try:
            stdout.write(_one(cmd, schema, args.data) + "\n")
        except RecursionError:
            stderr.write("v2xbox exi %s: input nested too deeply\n" % cmd)
            return 1
        except (InputError, jsonform.EXIError) as e:
            stderr.write("v2xbox exi %s: %s\n" % (cmd, e))
            return 1
        return 0
    for line in stdin:
        line = line.rstrip("\r\n")
        try:
            out = _one(cmd, schema, line)
        except (InputError, jsonform.EXIError) as e:
            out = jsonform.dumps({"error": str(e)})
        except RecursionError:   # json.loads on absurdly nested input
            out = jsonform.dumps({"error": "input nested too deeply"})
        stdout.write(out + "\n")
    stdout.flush()
    return 0
