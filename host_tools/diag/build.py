"""`v2xbox build-image`: mpy-cross every firmware module, pack, sign."""
import fnmatch
import hashlib
import os
import subprocess
import sys
import tempfile

from firmware.diag import image as I

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPY_ARCH = "armv7emsp"          # same target as the MicroPython gate (tools/mpy/gate.py)
_SKIP = ("_micropython_shim.py",)


class BuildError(Exception):
    pass


def firmware_sources(root=ROOT, include=None):
    out = []
    for dirpath, dirnames, files in os.walk(os.path.join(root, "firmware")):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".py") or f in _SKIP:
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            if include and not any(fnmatch.fnmatch(rel, pat) for pat in include):
                continue
            out.append(rel)
    return out


def compile_modules(sources, root=ROOT, progress=None):
    """[(name.mpy, bytes)] via mpy-cross; raises BuildError with its message."""
    mods = []
    with tempfile.TemporaryDirectory() as tmp:
        for rel in sources:
            out = os.path.join(tmp, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + MPY_ARCH, "-o", out,
                                os.path.join(root, rel)], capture_output=True, text=True)
            if r.returncode != 0:
                raise BuildError("mpy-cross failed on %s: %s" % (rel, (r.stdout + r.stderr).strip()))
            with open(out, "rb") as f:
                mods.append((rel[:-3] + ".mpy", f.read()))
            if progress:
                progress(rel)
    return mods


def parse_version(s):
    try:
        parts = [int(x) for x in s.split(".")]
    except ValueError:
        parts = []
    if len(parts) != 3 or not (0 <= parts[0] < 256 and 0 <= parts[1] < 256 and 0 <= parts[2] < 65536):
        raise BuildError("version must be MAJOR.MINOR.PATCH (0-255.0-255.0-65535), got %r" % s)
    return I.version_int(*parts)


def build(modules, version, signing_key, board=I.BOARD, counter=None):
    payload = I.pack_payload(modules)
    header = I.pack_header(version, version if counter is None else counter, len(payload), board,
                           hashlib.sha256(payload).digest())
    return header + payload + signing_key.sign(header)


def describe(img):
    """(Header, result text) of an image file's header, for messages."""
    res, h = I.parse_header(img[:I.HEADER_SIZE])
    return res, h
