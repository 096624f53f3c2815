"""Import tools/gen_safety_docs.py (tools/ is not a package)."""
import importlib.util
import os

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_MOD = []


def gen_docs():
    if not _MOD:
        spec = importlib.util.spec_from_file_location(
            "gen_safety_docs", os.path.join(_ROOT, "tools", "gen_safety_docs.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _MOD.append(mod)
    return _MOD[0]
