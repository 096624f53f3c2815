"""`v2xbox`: the technician CLI. Each subcommand lives in its own module
exposing `add_parser(subparsers)`; `func(args)` returns the exit code."""
import argparse
import sys

from host_tools import canlog, monitor, simcmd
from host_tools.diag import cli as diag_cli
from host_tools.exi import cli as exi_cli
from host_tools.secc import cli as secc_cli
from host_tools.v2g import cli as v2g_cli

_MODULES = [monitor, simcmd, canlog, exi_cli, v2g_cli, secc_cli, diag_cli]


def build_parser():
    p = argparse.ArgumentParser(prog="v2xbox", description="v2xbox technician tool: monitor, simulate, log, EXI, diagnostics and flashing")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _MODULES:
        mod.add_parser(sub)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
