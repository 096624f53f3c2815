"""The safety/session firmware compiles with mpy-cross and its device tests
pass inside the real MicroPython interpreter (WebAssembly port under Node)."""
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, "firmware", "safety", "*.py")) +
                 glob.glob(os.path.join(ROOT, "firmware", "session", "*.py")))
DEVICE_TESTS = sorted(glob.glob(os.path.join(ROOT, "tests", "device", "test_safety_*.py")) +
                      glob.glob(os.path.join(ROOT, "tests", "device", "test_session_*.py")))


@pytest.mark.parametrize("path", MODULES, ids=[os.path.relpath(p, ROOT) for p in MODULES])
def test_mpy_cross_compiles(path, tmp_path):
    out = tmp_path / "x.mpy"
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=armv7emsp", "-o", str(out), path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0


def test_device_tests_pass_in_micropython():
    assert DEVICE_TESTS, "no device tests found"
    r = subprocess.run(["node", os.path.join(ROOT, "tools", "mpy", "run.mjs"), "--tests"] + DEVICE_TESTS,
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout
