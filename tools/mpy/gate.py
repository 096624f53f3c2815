"""The MicroPython gate (host side): what `tests/gate/` checks.

1. every device module compiles with mpy-cross for the MCU (ARMv7E-M + SP FPU);
2. device tests run inside the real MicroPython interpreter (WebAssembly port);
3. a static rule check: device code imports only what MicroPython has and
   uses no syntax it lacks (pyright against the STM32 stubs runs beside it).
"""
import ast
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "tools", "mpy", "run.mjs")
MPY_ARCH = "armv7emsp"  # STM32F4/F7/H7 class: Cortex-M4/M7 with single-precision FPU

# Modules present on the MicroPython STM32 port (built in, or frozen) that device code may use.
ALLOWED_MODULES = {
    "array", "binascii", "builtins", "cmath", "collections", "errno", "gc", "hashlib", "heapq",
    "io", "json", "machine", "math", "micropython", "os", "pyb", "random", "re", "select",
    "stm", "struct", "sys", "time", "uctypes", "deflate", "asyncio", "framebuf",
}
DEVICE_PACKAGES = ("firmware", "inverter")
HOST_ONLY_DIRS = {"plant", "design", "__pycache__"}  # inverter/plant, inverter/design: CPython (model, gain design)


def device_sources(root=ROOT):
    """Every .py file that is flashed to a device."""
    out = []
    for pkg in DEVICE_PACKAGES:
        for dirpath, dirnames, files in os.walk(os.path.join(root, pkg)):
            dirnames[:] = sorted(d for d in dirnames if d not in HOST_ONLY_DIRS)
            for f in sorted(files):
                if f.endswith(".py") and f != "_micropython_shim.py":
                    out.append(os.path.join(dirpath, f))
    return out


def device_test_files(root=ROOT):
    d = os.path.join(root, "tests", "device")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("test_") and f.endswith(".py"))


def mpy_compile(src, out_path):
    """Compile with mpy-cross; returns (ok, message)."""
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + MPY_ARCH, "-o", out_path, src],
                       capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


_SUMMARY = re.compile(r"^micropython: (\d+) passed, (\d+) failed$", re.M)


def run_in_micropython(test_files, root=ROOT, timeout=600):
    """Run device test modules inside MicroPython. Returns (rc, passed, failed, output)."""
    cmd = ["node", RUNNER, "--root", root, "--tests"] + list(test_files)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
    out = r.stdout + r.stderr
    m = _SUMMARY.search(r.stdout)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return r.returncode, passed, failed, out


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def rule_violations(path):
    """MicroPython rule violations in one source file, as 'file:line: message' strings."""
    with open(path) as f:
        src = f.read()
    try:
        tree = ast.parse(src, path)
    except SyntaxError as e:
        return ["%s:%s: syntax error: %s" % (path, e.lineno, e.msg)]
    bad = []
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    guarded.add(id(n))
    for node in ast.walk(tree):
        where = "%s:%d" % (path, getattr(node, "lineno", 0))
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for n in names:
            top = n.split(".")[0]
            if top in DEVICE_PACKAGES or top in ALLOWED_MODULES or id(node) in guarded:
                continue
            bad.append("%s: imports %r, which MicroPython does not have" % (where, n))
        if isinstance(node, ast.Match):
            bad.append("%s: 'match' statement (not in MicroPython)" % where)
        if hasattr(ast, "TryStar") and isinstance(node, ast.TryStar):
            bad.append("%s: 'except*' (not in MicroPython)" % where)
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            for v in ast.walk(node.format_spec):
                if isinstance(v, ast.FormattedValue):
                    bad.append("%s: nested f-string format spec (not in MicroPython)" % where)
    return bad


def pyright(root=ROOT):
    r = subprocess.run([os.path.join(root, "node_modules", ".bin", "pyright"), "-p",
                        os.path.join(root, "pyrightconfig.json")], capture_output=True, text=True, cwd=root)
    return r.returncode, r.stdout + r.stderr
