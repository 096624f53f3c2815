"""The committed grammar tables are exactly what the generator makes from the installed XSDs."""
import os
import subprocess
import sys

from tools.exigen.__main__ import ROOT, SETS, find_schemas, generate

GEN = os.path.join(ROOT, "firmware", "v2g", "exi", "gen")


def test_generated_modules_are_current(tmp_path):
    written = generate(find_schemas(), str(tmp_path))
    names = sorted(os.path.basename(p) for p in written) + ["__init__.py"]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    assert sorted(f for f in os.listdir(GEN) if f.endswith(".py")) == sorted(names)
    for n in names:
        with open(os.path.join(tmp_path, n)) as f:
            fresh = f.read()
        with open(os.path.join(GEN, n)) as f:
            committed = f.read()
        assert fresh == committed, "%s is stale: run `make gen`" % n


def test_generator_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    env = dict(os.environ, PYTHONHASHSEED="random")
    for out in (a, b):
        subprocess.run([sys.executable, "-m", "tools.exigen", "--out", str(out)], cwd=ROOT, env=env,
                       check=True, capture_output=True)
    for n in sorted(SETS):
        assert (a / (n + ".py")).read_text() == (b / (n + ".py")).read_text()


def test_schemas_come_from_the_iso15118_package():
    path = find_schemas()
    assert os.path.join("iso15118", "shared", "schemas") in path
    # no XSD text is committed in the repository
    out = subprocess.run(["git", "ls-files", "*.xsd"], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == ""
