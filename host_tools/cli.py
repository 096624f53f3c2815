"""The `v2xbox` command (console script). Subcommands register themselves here."""
import argparse
import sys


def build_parser():
    ap = argparse.ArgumentParser(prog="v2xbox", description="v2xbox technician and bench tools")
    sub = ap.add_subparsers(dest="command", required=True)
    from host_tools.exi import cli as exi_cli

    exi_cli.add_parser(sub)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
