"""Generate firmware/v2g/exi/gen/*.py from the V2G XSDs shipped in the `iso15118` package.

    python -m tools.exigen [--schemas DIR] [--out DIR]

The XSDs are read from the installed iso15118 package: either importable by
this interpreter, or installed in build/josev-venv (see the Makefile).
"""
import argparse
import glob
import importlib.util
import os
import sys

from .emit import build, render
from .xsd import SchemaSet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# schema set name -> (namespace used by the peer codec, entry XSD files relative to schemas/)
SETS = {
    "app": ("urn:iso:15118:2:2010:AppProtocol", ["V2G_CI_AppProtocol.xsd"]),
    "din": ("urn:din:70121:2012:MsgDef", ["din_spec/V2G_CI_MsgDef.xsd", "din_spec/V2G_CI_MsgBody.xsd"]),
    "iso2": ("urn:iso:15118:2:2013:MsgDef", ["iso15118_2/V2G_CI_MsgDef.xsd"]),
    "iso20": ("urn:iso:std:iso:15118:-20:CommonMessages", ["iso15118_20/V2G_CI_CommonMessages.xsd"]),
    "iso20dc": ("urn:iso:std:iso:15118:-20:DC", ["iso15118_20/V2G_CI_DC.xsd"]),
    # a second car on the box's AC outlet may speak ISO 15118-20 AC (issue 11)
    "iso20ac": ("urn:iso:std:iso:15118:-20:AC", ["iso15118_20/V2G_CI_AC.xsd"]),
}


def find_schemas():
    spec = importlib.util.find_spec("iso15118")
    cands = []
    if spec is not None and spec.submodule_search_locations:
        cands.extend(os.path.join(p, "shared", "schemas") for p in spec.submodule_search_locations)
    cands.extend(glob.glob(os.path.join(ROOT, "build", "josev-venv", "lib", "python3*", "site-packages",
                                        "iso15118", "shared", "schemas")))
    for c in cands:
        if os.path.isfile(os.path.join(c, "V2G_CI_AppProtocol.xsd")):
            return c
    raise SystemExit("exigen: iso15118 schemas not found (run `make build/josev-venv/.stamp`)")


def generate(schemas, outdir, names=None):
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name in names or sorted(SETS):
        ns, entry = SETS[name]
        files = [os.path.join(schemas, f) for f in entry]
        schema = SchemaSet(files)
        g, roots = build(schema, ns)
        rel = sorted(os.path.relpath(d.path, schemas).replace(os.sep, "/") for d in schema.docs)
        text = render(name, ns, rel, g, roots)
        path = os.path.join(outdir, name + ".py")
        with open(path, "w") as f:
            f.write(text)
        written.append(path)
    init = os.path.join(outdir, "__init__.py")
    with open(init, "w") as f:
        f.write('"""Generated EXI grammar tables (one module per schema set); see tools/exigen."""\n')
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(prog="exigen")
    ap.add_argument("--schemas", help="iso15118/shared/schemas directory (default: locate the package)")
    ap.add_argument("--out", default=os.path.join(ROOT, "firmware", "v2g", "exi", "gen"))
    ap.add_argument("sets", nargs="*", help="schema sets (default: all of %s)" % ", ".join(sorted(SETS)))
    a = ap.parse_args(argv)
    for p in generate(a.schemas or find_schemas(), a.out, a.sets or None):
        print("exigen: wrote", os.path.relpath(p, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
