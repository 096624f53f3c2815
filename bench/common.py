"""Shared by the bench providers: run one measurement script on CPython and
inside MicroPython (WebAssembly port) and read its one-line JSON result."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUN_MJS = os.path.join(ROOT, "tools", "mpy", "run.mjs")


def json_line(out):
    """The last line of `out` that is a JSON object."""
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON result in output:\n" + out)


def run_cpython(script, *args):
    p = subprocess.run([sys.executable, script] + [str(a) for a in args], capture_output=True, text=True,
                       check=True, cwd=ROOT)
    return json_line(p.stdout)


def run_micropython(script, *args):
    p = subprocess.run(["node", RUN_MJS, "--script", script] + [str(a) for a in args], capture_output=True,
                       text=True, check=True, cwd=ROOT)
    return json_line(p.stdout)
