"""Compile the device EXI codec with mpy-cross (STM32 target) and report the .mpy sizes."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXI = os.path.join(ROOT, "firmware", "v2g", "exi")


def codec_sources():
    out = []
    for d in (EXI, os.path.join(EXI, "gen")):
        out += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".py")]
    return out


def compile_all(outdir, march="armv7emsp"):
    """Compile every codec module; returns {path relative to the repo: .mpy size in bytes}."""
    sizes = {}
    for src in codec_sources():
        rel = os.path.relpath(src, ROOT)
        dst = os.path.join(outdir, rel[:-3].replace(os.sep, "_") + ".mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + march, "-o", dst, src],
                       check=True, capture_output=True)
        sizes[rel] = os.path.getsize(dst)
    return sizes
