"""docs/glossary.md against the code: one prefix, one meaning."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = ("_A", "_V", "_W", "_MS", "_S", "_C", "_PCT", "_OHM", "_MV", "_KWH")
_CONST = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*const\(", re.M)


def _rows():
    with open(os.path.join(ROOT, "docs", "glossary.md")) as f:
        text = f.read()
    rows = {}
    for m in re.finditer(r"^\| `([A-Z]+_)` \| [^|]+ \| ([^|]+) \|$", text, re.M):
        rows[m.group(1)] = [p.strip() for p in m.group(2).split(",")]
    return rows


def _device_consts():
    out = []
    for base in ("firmware", os.path.join("inverter", "controller")):
        for d, _dirs, files in os.walk(os.path.join(ROOT, base)):
            if os.sep + "gen" in d or "__pycache__" in d:
                continue
            for fn in files:
                if fn.endswith(".py"):
                    path = os.path.join(d, fn)
                    with open(path) as f:
                        for name in _CONST.findall(f.read()):
                            out.append((name, os.path.relpath(path, ROOT)))
    return out


def test_the_glossary_has_rows():
    rows = _rows()
    assert len(rows) >= 20 and "S_" in rows and "EV_" in rows


def test_each_prefix_means_one_thing():
    rows = _rows()
    wrong = []
    for name, path in _device_consts():
        if name.endswith(UNITS):
            continue                     # a quantity: the unit says what it is
        for prefix, where in rows.items():
            if name.startswith(prefix) and path not in where:
                wrong.append("%s in %s (glossary: %s = %s)" % (name, path, prefix, ", ".join(where)))
    assert wrong == []


def test_no_stale_rows():
    rows = _rows()
    used = {}
    for name, path in _device_consts():
        for prefix in rows:
            if name.startswith(prefix) and not name.endswith(UNITS):
                used.setdefault(prefix, set()).add(path)
    stale = ["%s in %s" % (p, w) for p, where in rows.items() for w in where if w not in used.get(p, ())]
    assert stale == []
