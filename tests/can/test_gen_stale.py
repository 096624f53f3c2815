"""The generated codecs are committed; they must match what tools/gen_can.py
produces from dbc/ right now (a DBC edit without `make gen` fails here)."""
import os
import shutil
import subprocess
import sys

from tools import gen_can


def test_generated_modules_are_up_to_date():
    bad = gen_can.stale()
    assert bad == [], "stale generated code (run `make gen`): %s" % [
        os.path.relpath(p, gen_can.ROOT) for p in bad]


def test_every_dbc_has_a_module():
    for p in gen_can.dbc_files():
        stem = os.path.splitext(os.path.basename(p))[0]
        assert os.path.isfile(os.path.join(gen_can.OUT_DIR, stem + ".py")), stem


def test_vectors_going_stale_is_detected(tmp_path, monkeypatch):
    stale_copy = tmp_path / "can_vectors.json"
    stale_copy.write_text(open(gen_can.VECTORS).read().replace('"decode"', '"decode" ', 1))
    monkeypatch.setattr(gen_can, "VECTORS", str(stale_copy))
    assert str(stale_copy) in gen_can.stale()


def test_output_is_deterministic():
    assert gen_can.expected_outputs() == gen_can.expected_outputs()


def test_check_mode_detects_a_stale_copy(tmp_path):
    """Run the real CLI on a copy of the tree whose DBC was edited."""
    for d in ("dbc", "tools", "firmware"):
        shutil.copytree(os.path.join(gen_can.ROOT, d), tmp_path / d,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tests" / "device").mkdir(parents=True)
    shutil.copy(gen_can.VECTORS, tmp_path / "tests" / "device")
    script = str(tmp_path / "tools" / "gen_can.py")
    assert subprocess.run([sys.executable, script, "--check"]).returncode == 0
    dbc = tmp_path / "dbc" / "box.dbc"
    dbc.write_text(dbc.read_text().replace("[0|100] \"%\"", "[0|99] \"%\""))
    r = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert r.returncode == 1 and "stale: firmware/can/gen/box.py" in r.stderr
    assert subprocess.run([sys.executable, script]).returncode == 0
    assert subprocess.run([sys.executable, script, "--check"]).returncode == 0
    assert "0, 99, None" in (tmp_path / "firmware" / "can" / "gen" / "box.py").read_text()
