"""The device codec compiles with mpy-cross for the STM32 (armv7emsp)."""
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


def compile_all(outdir):
    """Compile every codec module; returns {relative path: .mpy size in bytes}."""
    sizes = {}
    for src in codec_sources():
        rel = os.path.relpath(src, ROOT)
        dst = os.path.join(outdir, rel[:-3].replace(os.sep, "_") + ".mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=armv7emsp", "-o", dst, src],
                       check=True, capture_output=True)
        sizes[rel] = os.path.getsize(dst)
    return sizes


def test_codec_compiles_with_mpy_cross(tmp_path):
    sizes = compile_all(str(tmp_path))
    assert len(sizes) >= 8
    # each module must stay small enough to import on the MCU
    for rel, n in sizes.items():
        assert n < 64 * 1024, (rel, n)
