"""The MicroPython gate: device code compiles for the MCU, follows the
MicroPython rules, type-checks against the STM32 stubs, and its tests pass
inside the real MicroPython interpreter."""
import os

import pytest

from tools.mpy import gate

SOURCES = gate.device_sources()
DEVICE_TESTS = gate.device_test_files()


def _rel(p):
    return os.path.relpath(p, gate.ROOT)


@pytest.mark.parametrize("src", SOURCES, ids=_rel)
def test_compiles_with_mpy_cross(src):
    out = os.path.join(gate.ROOT, "build", "mpy", _rel(src)[:-3] + ".mpy")
    ok, msg = gate.mpy_compile(src, out)
    assert ok, msg
    assert os.path.getsize(out) > 0


@pytest.mark.parametrize("src", SOURCES, ids=_rel)
def test_follows_micropython_rules(src):
    assert gate.rule_violations(src) == []


def test_pyright_against_micropython_stubs():
    rc, out = gate.pyright()
    assert rc == 0, out
    assert "0 errors" in out


def test_every_firmware_package_has_device_tests():
    """At least one tests/device module per firmware package (named test_<package>...)."""
    pkgs = sorted(d for d in os.listdir(os.path.join(gate.ROOT, "firmware"))
                  if os.path.isfile(os.path.join(gate.ROOT, "firmware", d, "__init__.py")))
    names = [os.path.basename(f) for f in DEVICE_TESTS]
    missing = [p for p in pkgs if not any(n.startswith("test_" + p) for n in names)]
    assert missing == [], "firmware packages without device tests: %s" % missing


@pytest.mark.parametrize("test_file", DEVICE_TESTS, ids=_rel)
def test_device_tests_pass_inside_micropython(test_file):
    rc, passed, failed, out = gate.run_in_micropython([test_file])
    assert rc == 0 and failed == 0, out
    assert passed > 0, "no test ran inside MicroPython:\n" + out
