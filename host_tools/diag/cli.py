"""Diagnostics and flashing commands of `v2xbox`: build-image, keys, flash,
dtc, did, config, info. Every command returns a distinct exit code per
failure (EXIT_* below) and says why on stderr."""
import hashlib
import json
import os
import struct
import time

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from firmware.diag import image as I
from firmware.diag import uds as U
from host_tools.diag import build as B
from host_tools.diag import conn as C
from host_tools.diag import keys as K

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERFACE = 3
EXIT_NO_RESPONSE = 10
EXIT_SECURITY = 11          # wrong security key / locked out
EXIT_BAD_SIGNATURE = 12
EXIT_WRONG_BOARD = 13
EXIT_DOWNGRADE = 14
EXIT_INTERRUPTED = 15       # transfer interrupted: run the same command again to resume
EXIT_BUSY = 16              # the box is discharging: the safety supervisor refuses
EXIT_IMAGE_REJECTED = 17    # not an image / hash mismatch / bad payload
EXIT_REFUSED = 18           # any other negative response
EXIT_REVERTED = 19          # the new image did not confirm itself; the old one runs again

_RESULT_EXIT = {I.E_SIGNATURE: EXIT_BAD_SIGNATURE, I.E_BOARD: EXIT_WRONG_BOARD, I.E_DOWNGRADE: EXIT_DOWNGRADE}
SLOT = {0: "A", 1: "B", 0xFF: "-"}
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


class Fail(Exception):
    def __init__(self, code, msg):
        Exception.__init__(self, msg)
        self.code = code


def _fail(code, msg):
    raise Fail(code, msg)


# ---------------------------------------------------------------- parsers
def add_parser(sub):
    p = sub.add_parser("build-image", help="compile every firmware module with mpy-cross, pack and sign an image")
    p.add_argument("--out", "-o", required=True, help="image file to write")
    p.add_argument("--version", required=True, help="firmware version MAJOR.MINOR.PATCH")
    p.add_argument("--counter", type=int, help="anti-rollback security counter (default: the version number)")
    p.add_argument("--board", default=I.BOARD, help="target board (default %(default)s)")
    p.add_argument("--keys", help="key directory (default $V2XBOX_KEYS, config [keys] dir, or the dev keys)")
    p.add_argument("--include", action="append", help="only modules matching this glob (repeatable)")
    p.add_argument("--pad", type=int, default=0, help="append a filler module of this many bytes (bench/tests)")
    p.set_defaults(func=run_build)

    p = sub.add_parser("keys", help="image signing and SecurityAccess keys")
    ks = p.add_subparsers(dest="keys_cmd", metavar="ACTION")
    ks.required = True
    g = ks.add_parser("generate", help="create a new key directory")
    g.add_argument("--dir", required=True)
    g.add_argument("--force", action="store_true", help="replace existing keys")
    g.set_defaults(func=run_keys_generate)
    s = ks.add_parser("show", help="show the public key the boxes must trust")
    s.add_argument("--dir", help="key directory (default: as for build-image)")
    s.add_argument("--serial", help="also show the SecurityAccess device key for this box serial")
    s.set_defaults(func=run_keys_show)

    p = sub.add_parser("flash", help="flash a signed image over UDS (resumes an interrupted transfer)")
    p.add_argument("image")
    p.add_argument("--keys", help="key directory for SecurityAccess")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the new image to confirm itself")
    p.add_argument("--restart", action="store_true", help="do not resume a partial transfer; start over")
    C.add_arguments(p)
    p.set_defaults(func=run_flash)

    p = sub.add_parser("dtc", help="read or clear the box's diagnostic trouble codes")
    p.add_argument("action", choices=["read", "clear"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--mask", type=lambda s: int(s, 0), default=0xFF, help="DTC status mask (default 0xFF)")
    C.add_arguments(p)
    p.set_defaults(func=run_dtc)

    p = sub.add_parser("did", help="read or write data identifiers")
    p.add_argument("action", choices=["read", "write"])
    p.add_argument("did", help="DID in hex, e.g. F189")
    p.add_argument("data", nargs="*", help="read: more DIDs; write: the value as hex bytes")
    p.add_argument("--keys", help="key directory for SecurityAccess (write)")
    C.add_arguments(p)
    p.set_defaults(func=run_did)

    p = sub.add_parser("config", help="read or change the box configuration")
    p.add_argument("action", choices=["get", "set"])
    p.add_argument("key", nargs="?", help="soc_floor_pct, max_power_w, profile, mode")
    p.add_argument("value", nargs="?")
    p.add_argument("--keys", help="key directory for SecurityAccess (set)")
    C.add_arguments(p)
    p.set_defaults(func=run_config)

    p = sub.add_parser("info", help="identity, versions, image slots and live state of the box")
    p.add_argument("--json", action="store_true")
    C.add_arguments(p)
    p.set_defaults(func=run_info)


# ---------------------------------------------------------------- helpers
def _keydir(args):
    d = getattr(args, "keys", None) or os.environ.get("V2XBOX_KEYS")
    if not d:
        try:
            cfgd = C.settings(args).get("keys")
        except C.ConfigError:
            cfgd = None
        d = cfgd
    if not d:
        err.print("note: using the development keys (%s)" % K.DEV_DIR)
        d = K.DEV_DIR
    return d


def _with_session(args, fn):
    """Open the bus and run fn(session, settings), mapping errors to exit codes."""
    import udsoncan.exceptions as UE
    try:
        s = C.settings(args)
    except C.ConfigError as e:
        err.print("%s: %s" % (args.command, e))
        return EXIT_USAGE
    try:
        sess = C.Session(s, timeout=args.timeout)
    except Exception as e:
        err.print("%s: cannot open CAN interface %s %s: %s" % (args.command, s["interface"], s["channel"], e))
        return EXIT_INTERFACE
    try:
        with sess:
            try:
                return fn(sess, s)
            except UE.NegativeResponseException as e:
                r = e.response
                err.print("%s: the box refused %s: %s (NRC 0x%02X)" % (args.command, r.service.get_name(),
                                                                      r.code_name, r.code))
                if r.code == U.NRC_CNC and _busy(sess):
                    err.print("%s: the box is busy discharging; stop the session first" % args.command)
                    return EXIT_BUSY
                return EXIT_REFUSED
    except Fail as f:
        err.print("%s: %s" % (args.command, f))
        return f.code
    except UE.TimeoutException:
        err.print("%s: no response from the box (is it powered and on this bus?)" % args.command)
        return EXIT_NO_RESPONSE
    except (UE.InvalidResponseException, UE.UnexpectedResponseException) as e:
        err.print("%s: unexpected answer from the box: %s" % (args.command, e))
        return EXIT_REFUSED


def _busy(sess):
    try:
        live = sess.client.read_data_by_identifier(U.DID_LIVE).service_data.values[U.DID_LIVE]
        return len(live) > 1 and live[1] == 1
    except Exception:
        return False


def _unlock(sess, args, serial):
    import udsoncan.exceptions as UE
    d = _keydir(args)
    try:
        dk = K.device_key(K.load_master(d), serial)
    except K.KeyError_ as e:
        _fail(EXIT_USAGE, str(e))
    sess.client.config["security_algo_params"] = dk
    try:
        try:
            sess.client.unlock_security_access(1)
        except UE.NegativeResponseException as e:
            if e.response.code != U.NRC_RTDNE:
                raise
            time.sleep(U.BOOT_DELAY_MS / 1000 + 0.2)      # a box that just reset refuses seeds for a second
            sess.client.unlock_security_access(1)
    except UE.NegativeResponseException as e:
        if e.response.code in (U.NRC_IK, U.NRC_ENOA):
            _fail(EXIT_SECURITY, "wrong security key: the box rejected the key derived from %s%s" % (
                d, "; it now locks SecurityAccess for %d s" % (U.LOCKOUT_MS // 1000)
                if e.response.code == U.NRC_ENOA else ""))
        if e.response.code == U.NRC_RTDNE:
            _fail(EXIT_SECURITY, "SecurityAccess is locked after failed attempts; try again in %d s"
                  % (U.LOCKOUT_MS // 1000))
        raise


def _read(sess, *dids):
    """One request per DID (their values have variable length)."""
    vals = {}
    for d in dids:
        vals[d] = sess.client.read_data_by_identifier(d).service_data.values[d]
    return vals


def _image_state(raw):
    running, confirmed, trial, boots, last, counter, version, received = struct.unpack(">BBBBBIII", raw)
    return {"running": SLOT.get(running, "?"), "confirmed": SLOT.get(confirmed, "?"), "trial": SLOT.get(trial, "?"),
            "trial_boots": boots, "last_result": I.RESULT_NAMES[last] if last < len(I.RESULT_NAMES) else last,
            "last_result_code": last, "anti_rollback": counter, "version": I.version_str(version),
            "download_received": received}


def _ident(sess):
    v = _read(sess, U.DID_SERIAL, U.DID_BOARD, U.DID_SW_VERSION, U.DID_IMAGE)
    return (v[U.DID_SERIAL].decode(errors="replace"), v[U.DID_BOARD].decode(errors="replace"),
            v[U.DID_SW_VERSION].decode(errors="replace"), _image_state(v[U.DID_IMAGE]))


# ---------------------------------------------------------------- build-image / keys
def run_build(args):
    try:
        version = B.parse_version(args.version)
        sk = K.load_signing_key(_keydir(args))
        srcs = B.firmware_sources(include=args.include)
        if not srcs:
            _fail(EXIT_USAGE, "no firmware module matches %s" % args.include)
        with Progress(transient=True, console=err) as prog:
            t = prog.add_task("mpy-cross", total=len(srcs))
            mods = B.compile_modules(srcs, progress=lambda rel: prog.advance(t))
        if args.pad:
            mods.append(("firmware/pad.bin", os.urandom(args.pad)))
        img = B.build(mods, version, sk, args.board, args.counter)
    except (B.BuildError, K.KeyError_) as e:
        err.print("build-image: %s" % e)
        return EXIT_USAGE
    except Fail as f:
        err.print("build-image: %s" % f)
        return f.code
    try:
        with open(args.out, "wb") as f:
            f.write(img)
    except OSError as e:
        err.print("build-image: cannot write %s: %s" % (args.out, e.strerror or e))
        return EXIT_USAGE
    out.print("build-image: %s: %d modules, %d bytes, version %s, board %s, sha256 %s" % (
        args.out, len(mods), len(img), args.version, args.board, hashlib.sha256(img[I.HEADER_SIZE:-I.SIGNATURE_SIZE])
        .hexdigest()[:16]))
    return EXIT_OK


def run_keys_generate(args):
    try:
        paths = K.generate(args.dir, args.force)
    except K.KeyError_ as e:
        err.print("keys: %s" % e)
        return EXIT_USAGE
    out.print("keys: wrote %s" % ", ".join(paths))
    return run_keys_show(args)


def run_keys_show(args):
    d = args.dir or _keydir(args)
    try:
        pub = K.load_public_key(d)
        out.print("signing public key (Ed25519): %s" % pub.hex())
        out.print("fingerprint: %s" % K.fingerprint(pub))
        if getattr(args, "serial", None):
            out.print("device key for %s: %s" % (args.serial, K.device_key(K.load_master(d), args.serial).hex()))
    except K.KeyError_ as e:
        err.print("keys: %s" % e)
        return EXIT_USAGE
    return EXIT_OK


# ---------------------------------------------------------------- flash
def _resume_path():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "v2xbox", "flash-resume.json")


def _resume_load():
    try:
        with open(_resume_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _resume_save(d):
    p = _resume_path()
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        json.dump(d, f)


def run_flash(args):
    try:
        with open(args.image, "rb") as f:
            img = f.read()
    except OSError as e:
        err.print("flash: cannot read %s: %s" % (args.image, e))
        return EXIT_USAGE
    res, h = I.parse_header(img)
    if res != I.OK or len(img) != h.total():
        err.print("flash: %s is not a v2xbox image (%s)" % (args.image, I.RESULT_NAMES[res] if res else "size"))
        return EXIT_IMAGE_REJECTED
    return _with_session(args, lambda sess, s: _flash(sess, args, img, h))


def _flash(sess, args, img, h):
    import udsoncan
    import udsoncan.exceptions as UE
    c = sess.client
    serial, board, version, st = _ident(sess)
    err.print("flash: box %s (%s) runs %s from slot %s; image %s for %s, %d bytes" % (
        serial, board, version, st["running"], I.version_str(h.version), h.board, len(img)))
    if _busy(sess):
        _fail(EXIT_BUSY, "the box is busy discharging; stop the session first (the safety supervisor refuses "
                         "any update while power flows)")
    digest = hashlib.sha256(img).hexdigest()
    store = _resume_load()
    rec = store.get(serial)
    start = 0
    if not args.restart and rec and rec.get("sha256") == digest and 0 < st["download_received"] < len(img):
        start = st["download_received"]
    c.change_session(3)
    c.change_session(2)
    _unlock(sess, args, serial)
    if start == 0:
        err.print("flash: erasing slot")
        r = c.routine_control(U.RID_ERASE, 1)
    else:
        err.print("flash: resuming at byte %d of %d" % (start, len(img)))
    store[serial] = {"sha256": digest, "image": os.path.abspath(args.image)}
    _resume_save(store)
    loc = udsoncan.MemoryLocation(address=start, memorysize=len(img), address_format=32, memorysize_format=32)
    r = c.request_download(loc)
    block = r.service_data.max_length - 2
    pos = start
    seq = 1
    t0 = time.monotonic()
    err.print("flash: transferring from byte %d in blocks of %d bytes" % (start, block))
    try:
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=err) as prog:
            task = prog.add_task("flash", total=len(img), completed=start)
            while pos < len(img):
                chunk = img[pos:pos + block]
                c.transfer_data(seq, chunk)
                pos += len(chunk)
                seq = (seq + 1) & 0xFF
                prog.update(task, completed=pos)
    except (UE.TimeoutException, KeyboardInterrupt, OSError) as e:
        _fail(EXIT_INTERRUPTED, "transfer interrupted at byte %d of %d (%s); the box keeps running %s. Run the "
                                "same command again to resume." % (pos, len(img), type(e).__name__, version))
    dt = time.monotonic() - t0
    c.request_transfer_exit()
    err.print("flash: verifying on the box (hash, signature, board, anti-rollback)")
    r = c.routine_control(U.RID_CHECK, 1)
    result = r.service_data.routine_status_record[0] if r.service_data.routine_status_record else 0xFF
    store.pop(serial, None)
    _resume_save(store)
    if result != I.OK:
        why = I.RESULT_NAMES[result] if result < len(I.RESULT_NAMES) else "code %d" % result
        _fail(_RESULT_EXIT.get(result, EXIT_IMAGE_REJECTED),
              "the box rejected the image: %s; it keeps running %s" % (why, version))
    sent = len(img) - start
    out.print("flash: %d bytes in %.2f s = %.1f kB/s" % (sent, dt, sent / dt / 1000 if dt > 0 else 0.0))
    c.ecu_reset(1)
    err.print("flash: image verified; box resetting into the trial image")
    deadline = time.monotonic() + 15
    st2 = None
    time.sleep(0.3)
    while time.monotonic() < deadline:
        try:
            _s, _b, ver2, st2 = _ident(sess)
        except (UE.TimeoutException, UE.NegativeResponseException):
            time.sleep(0.2)
            continue
        if args.no_wait or st2["trial"] == "-":
            break
        time.sleep(0.3)
    if st2 is None:
        _fail(EXIT_NO_RESPONSE, "no response from the box after the reset")
    if st2["version"] != I.version_str(h.version):
        _fail(EXIT_REVERTED, "the box runs %s again: the new image did not pass its self-test (%s)" % (
            st2["version"], st2["last_result"]))
    out.print("flash: box runs %s from slot %s (%s)" % (st2["version"], st2["running"],
                                                       "confirmed" if st2["trial"] == "-" else "trial"))
    return EXIT_OK


# ---------------------------------------------------------------- dtc / did / config / info
def _freeze(data):
    from firmware.charging import table as T
    ts, state, vin, vlink, i, t, soc, faults = struct.unpack(">IBHHhbBI", data)
    return {"time_ms": ts, "state": T.STATE_NAMES[state] if state < len(T.STATE_NAMES) else state,
            "v_inlet": vin / 10, "v_link": vlink / 10, "i_dc": i / 10, "temp_c": t,
            "soc": None if soc == 0xFF else soc, "faults": "0x%08X" % faults}


def run_dtc(args):
    def go(sess, s):
        from firmware.safety import dtc as D
        c = sess.client
        if args.action == "clear":
            c.change_session(3)
            c.clear_dtc(0xFFFFFF)
            out.print("dtc: cleared")
            return EXIT_OK
        r = c.get_dtc_by_status_mask(args.mask)
        rows = []
        for d in r.service_data.dtcs:
            ff = None
            sr = c.get_dtc_snapshot_by_dtc_number(d.id, record_number=0xFF)
            for dd in sr.service_data.dtcs:
                for snap in dd.snapshots:
                    if snap.did == U.DID_FREEZE:
                        ff = _freeze(snap.data)
            rows.append({"dtc": D.text(d.id), "status": "0x%02X" % d.status.get_byte_as_int(),
                         "failed": bool(d.status.test_failed), "confirmed": bool(d.status.confirmed),
                         "freeze_frame": ff})
        if args.json:
            out.print(json.dumps(rows, indent=1))
            return EXIT_OK
        tab = Table(title="DTCs (status mask 0x%02X)" % args.mask)
        for col in ("DTC", "status", "failed", "confirmed", "freeze frame"):
            tab.add_column(col)
        for row in rows:
            ff = row["freeze_frame"]
            tab.add_row(row["dtc"], row["status"], str(row["failed"]), str(row["confirmed"]),
                        "" if ff is None else "t=%d ms %s Vin=%.1f V Vlink=%.1f V I=%.1f A T=%d C SoC=%s faults=%s"
                        % (ff["time_ms"], ff["state"], ff["v_inlet"], ff["v_link"], ff["i_dc"], ff["temp_c"],
                           ff["soc"], ff["faults"]))
        out.print(tab)
        if not rows:
            out.print("dtc: no DTCs")
        return EXIT_OK
    return _with_session(args, go)


def _hex_did(s):
    try:
        v = int(s, 16)
    except ValueError:
        v = -1
    if not 0 <= v <= 0xFFFF:
        raise Fail(EXIT_USAGE, "DID must be 1-4 hex digits, got %r" % s)
    return v


def run_did(args):
    try:
        dids = [_hex_did(args.did)] + ([_hex_did(x) for x in args.data] if args.action == "read" else [])
        data = bytes.fromhex("".join(args.data)) if args.action == "write" else b""
    except Fail as f:
        err.print("did: %s" % f)
        return f.code
    except ValueError:
        err.print("did: the value must be hex bytes, e.g. 1e or 00 1e")
        return EXIT_USAGE
    if args.action == "write" and not data:
        err.print("did: write needs a value")
        return EXIT_USAGE

    def go(sess, s):
        c = sess.client
        if args.action == "read":
            vals = _read(sess, *dids)
            for d in dids:
                v = vals[d]
                txt = v.decode("ascii") if all(32 <= b < 127 for b in v) and v else ""
                out.print("%04X: %s%s" % (d, v.hex(" "), ("  '%s'" % txt) if txt else ""))
            return EXIT_OK
        serial = _read(sess, U.DID_SERIAL)[U.DID_SERIAL].decode()
        c.change_session(3)
        _unlock(sess, args, serial)
        c.write_data_by_identifier(dids[0], data)
        out.print("did: wrote %04X = %s" % (dids[0], data.hex(" ")))
        return EXIT_OK
    return _with_session(args, go)


_CFG = {v[0]: (k, v[1]) for k, v in U.CONFIG_DIDS.items()}


def _cfg_value(key, text):
    from firmware.safety import config as CF
    names = {"profile": CF.PROFILE_NAMES, "mode": CF.MODE_NAMES}.get(key)
    if names:
        for i, n in enumerate(names):
            if n.lower() == text.lower():
                return i
    try:
        return int(text, 0)
    except ValueError:
        raise Fail(EXIT_USAGE, "%s: %r is not a number%s" % (key, text, (" or one of " + ", ".join(names))
                                                             if names else ""))


def _cfg_show(key, v):
    from firmware.safety import config as CF
    names = {"profile": CF.PROFILE_NAMES, "mode": CF.MODE_NAMES}.get(key)
    return names[v] if names and v < len(names) else v


def run_config(args):
    if args.key is not None and args.key not in _CFG:
        err.print("config: unknown setting %r (settings: %s)" % (args.key, ", ".join(_CFG)))
        return EXIT_USAGE
    if args.action == "set" and (args.key is None or args.value is None):
        err.print("config: set needs KEY VALUE")
        return EXIT_USAGE
    try:
        value = _cfg_value(args.key, args.value) if args.action == "set" else None
    except Fail as f:
        err.print("config: %s" % f)
        return f.code

    def go(sess, s):
        import udsoncan.exceptions as UE
        c = sess.client
        if args.action == "get":
            keys = [args.key] if args.key else list(_CFG)
            vals = _read(sess, *[_CFG[k][0] for k in keys])
            for k in keys:
                did, fmt = _CFG[k]
                out.print("%s = %s" % (k, _cfg_show(k, struct.unpack(">" + fmt, vals[did])[0])))
            return EXIT_OK
        did, fmt = _CFG[args.key]
        try:
            raw = struct.pack(">" + fmt, value)
        except struct.error:
            _fail(EXIT_USAGE, "%s = %s is out of range" % (args.key, value))
        serial = _read(sess, U.DID_SERIAL)[U.DID_SERIAL].decode()
        c.change_session(3)
        _unlock(sess, args, serial)
        try:
            c.write_data_by_identifier(did, raw)
        except UE.NegativeResponseException as e:
            if e.response.code == U.NRC_ROOR:
                _fail(EXIT_REFUSED, "the box refused %s = %s (outside its valid range for the current settings)"
                      % (args.key, args.value))
            raise
        out.print("config: %s = %s" % (args.key, args.value))
        return EXIT_OK
    return _with_session(args, go)


def run_info(args):
    def go(sess, s):
        from firmware.charging import table as T
        serial, board, version, st = _ident(sess)
        v = _read(sess, U.DID_SESSION, U.DID_LIVE)
        live = v[U.DID_LIVE]
        state, busy, faults, vin, vlink, i, soc = struct.unpack(">BBIHHhB", live)
        info = {"serial": serial, "board": board, "version": version, "diag_session": v[U.DID_SESSION][0],
                "image": st, "state": T.STATE_NAMES[state] if state < len(T.STATE_NAMES) else state,
                "busy_discharging": bool(busy), "faults": "0x%08X" % faults, "v_inlet": vin / 10,
                "v_link": vlink / 10, "i_dc": i / 10, "soc": None if soc == 0xFF else soc}
        if args.json:
            out.print(json.dumps(info, indent=1))
            return EXIT_OK
        tab = Table(title="v2xbox %s" % serial, show_header=False)
        tab.add_column("")
        tab.add_column("")
        for k in ("board", "version", "state", "busy_discharging", "faults", "v_inlet", "v_link", "i_dc", "soc"):
            tab.add_row(k, str(info[k]))
        for k in ("running", "confirmed", "trial", "trial_boots", "last_result", "anti_rollback",
                  "download_received"):
            tab.add_row("image." + k, str(st[k]))
        out.print(tab)
        return EXIT_OK
    return _with_session(args, go)
