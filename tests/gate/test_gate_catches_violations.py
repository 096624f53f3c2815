"""The gate must be able to fail: each of its checks rejects code that
uses a CPython-only feature."""
import os
import shutil

from tools.mpy import gate


def _fake_repo(tmp_path, module_src, test_src):
    """A minimal tree laid out like the repo, with one offending module."""
    shutil.copytree(os.path.join(gate.ROOT, "firmware"), tmp_path / "firmware",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "firmware" / "bad.py").write_text(module_src)
    (tmp_path / "tests" / "device").mkdir(parents=True)
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "device" / "__init__.py").write_text("")
    t = tmp_path / "tests" / "device" / "test_bad.py"
    t.write_text(test_src)
    return t


DATACLASS_SRC = "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 0\n"
TEST_SRC = "from firmware import bad\n\ndef test_p():\n    assert bad.P().x == 0\n"


def test_micropython_run_fails_on_cpython_only_module(tmp_path):
    t = _fake_repo(tmp_path, DATACLASS_SRC, TEST_SRC)
    rc, passed, failed, out = gate.run_in_micropython([str(t)], root=str(tmp_path))
    assert rc != 0
    assert "dataclasses" in out


def test_micropython_run_passes_the_same_test_when_clean(tmp_path):
    """Control: the identical harness passes when the module is MicroPython-clean."""
    t = _fake_repo(tmp_path, "class P:\n    def __init__(self):\n        self.x = 0\n", TEST_SRC)
    rc, passed, failed, out = gate.run_in_micropython([str(t)], root=str(tmp_path))
    assert (rc, passed, failed) == (0, 1, 0), out


def test_rule_check_flags_cpython_only_imports_and_syntax(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("import enum\nfrom typing import List\nimport pathlib\n"
                 "def f(x):\n    match x:\n        case 1:\n            return 1\n")
    v = gate.rule_violations(str(p))
    text = "\n".join(v)
    assert "'enum'" in text and "'typing'" in text and "'pathlib'" in text and "match" in text


def test_rule_check_allows_type_checking_guard(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from typing import List\nimport struct\n")
    assert gate.rule_violations(str(p)) == []


def test_mpy_cross_rejects_syntax_micropython_lacks(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f(x):\n    match x:\n        case 1:\n            return 1\n")
    ok, msg = gate.mpy_compile(str(p), str(tmp_path / "m.mpy"))
    assert not ok and "SyntaxError" in msg
