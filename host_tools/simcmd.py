"""`v2xbox sim` (the simulated box on the bench bus) and `v2xbox bench-bus`
(the loopback bus server other processes connect to)."""
import sys
import time

from host_tools import benchbus


def add_parser(sub):
    p = sub.add_parser("sim", help="run the simulated box (real firmware, sim HAL) on a CAN bus")
    benchbus.add_bus_arguments(p)
    p.add_argument("--speed", type=float, default=1.0,
                   help="firmware time per wall time (1 = real time; 0 = as fast as possible)")
    p.add_argument("--duration", type=float, help="stop after this many seconds of firmware time")
    p.add_argument("--scenario", choices=["discharge"],
                   help="run inside the discharge bench (simulated CHAdeMO car + power stage) and play "
                        "a session: plug, start, supply a 3 kW load, user stop, unplug")
    p.add_argument("--fd", action="store_true", help="diagnostics answer in CAN FD frames (64-byte ISO-TP frames)")
    p.add_argument("--flash-file", help="keep the simulated image flash in this file (survives a killed sim)")
    p.add_argument("--keys", help="key directory the simulated box is provisioned with (default: dev keys)")
    p.add_argument("--supply-ms", type=int, default=8000,
                   help="with --scenario discharge: how long the session supplies the load (default 8000)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME@MS",
                   help="with --scenario: inject a bench fault (estop, silence_car, stall_firmware) at MS of "
                        "firmware time, or at +MS after the session first reaches Supplying")
    p.add_argument("--start-bus", action="store_true",
                   help="also start the bench bus server (on the --channel port)")
    p.set_defaults(func=run_sim)

    b = sub.add_parser("bench-bus", help="run the bench bus server on 127.0.0.1")
    b.add_argument("--port", type=int, default=benchbus.DEFAULT_PORT)
    b.add_argument("--duration", type=float, help="stop after this many seconds")
    b.set_defaults(func=run_bus)


def _port_of(channel):
    try:
        return int(channel.rstrip("/").rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise ValueError("cannot read a port from channel %r" % channel)


def run_sim(args):
    from hil.simbox import SimBox

    if args.speed < 0:
        print("sim: --speed must be >= 0", file=sys.stderr)
        return 2
    faults = []     # checked before any bus is opened, so a typo leaves nothing to clean up
    for f in getattr(args, "fault", None) or []:
        name, _, t = f.partition("@")
        rel = t.startswith("+")
        t = t[1:] if rel else t
        if name not in ("estop", "silence_car", "stall_firmware") or not t.isdigit():
            print("sim: --fault must be estop|silence_car|stall_firmware@[+]MS, got %r" % f, file=sys.stderr)
            return 2
        faults.append((name, int(t), rel))
    server = None
    try:
        if args.start_bus:
            server, _ = benchbus.start_server(_port_of(args.channel))
        bus = benchbus.bus_from_args(args)
    except Exception as e:
        print("sim: cannot open CAN interface: %s" % e, file=sys.stderr)
        if server:
            server.terminate()
        return 3
    image_flash = None
    if getattr(args, "flash_file", None):
        from hil.simbox import IMAGE_FLASH_SIZE, IMAGE_SECTOR, FileFlash
        image_flash = FileFlash(args.flash_file, IMAGE_FLASH_SIZE, IMAGE_SECTOR)
    box = SimBox(bus, speed=args.speed, scenario=getattr(args, "scenario", None), image_flash=image_flash,
                 keys_dir=getattr(args, "keys", None), faults=faults,
                 supply_ms=getattr(args, "supply_ms", 8000), fd=getattr(args, "fd", False))
    box.boot()
    print("sim: box running on %s %s (speed %g)" % (args.interface, args.channel, args.speed), file=sys.stderr)
    try:
        box.run(None if args.duration is None else int(args.duration * 1000))
    except KeyboardInterrupt:
        pass
    finally:
        bus.shutdown()
        if server:
            server.terminate()
    print("sim: stopped at t=%d ms, %d frames out, %d in" % (box.clock.now_ms(), box.frames_out, box.frames_in),
          file=sys.stderr)
    return 0


def run_bus(args):
    try:
        proc, channel = benchbus.start_server(args.port)
    except RuntimeError as e:
        print("bench-bus: %s" % e, file=sys.stderr)
        return 3
    print("bench-bus: serving %s" % channel, file=sys.stderr)
    try:
        t_end = None if args.duration is None else time.monotonic() + args.duration
        while proc.poll() is None and (t_end is None or time.monotonic() < t_end):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        proc.terminate()
        proc.wait(5)
    return 0
