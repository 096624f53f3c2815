"""`make bench`: measure everything and write build/bench.json.

One flat JSON object {"metric.name": {"value": number, "unit": "..."}}.
Metric providers are `bench/*_bench.py` modules with `collect() -> dict`;
this file adds the firmware core metrics. Timings are taken in one run on
this machine; compare peers within the same run (ratios), not across runs.
"""
import argparse
import glob
import importlib.util
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import common  # noqa: E402  (bench/common.py)


def firmware_metrics():
    script = os.path.join(HERE, "firmware_tick.py")
    c = common.run_cpython(script)
    m = common.run_micropython(script)
    return {
        "firmware.boot_ms.cpython": {"value": round(c["boot_us"] / 1000.0, 3), "unit": "ms"},
        "firmware.tick_us.cpython": {"value": round(c["tick_us"], 3), "unit": "us"},
        "firmware.tick_us.micropython": {"value": round(m["tick_us"], 3), "unit": "us"},
        "firmware.boot_ms.micropython": {"value": round(m["boot_us"] / 1000.0, 3), "unit": "ms"},
        "firmware.heap_per_tick_bytes.micropython": {"value": round(m["heap_per_tick_bytes"], 1), "unit": "B"},
        "firmware.tick_ratio_micropython_vs_cpython": {"value": round(m["tick_us"] / c["tick_us"], 2), "unit": "x"},
    }


def providers():
    for path in sorted(glob.glob(os.path.join(HERE, "*_bench.py"))):
        name = os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location("bench_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield name, mod.collect


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench.json"))
    ap.add_argument("--only", help="run only providers whose name contains this")
    args = ap.parse_args(argv)
    results = {}
    todo = [("firmware", firmware_metrics)] + list(providers())
    failed = []
    for name, fn in todo:
        if args.only and args.only not in name:
            continue
        t0 = time.monotonic()
        try:
            got = fn()
        except Exception as e:  # one broken provider must not hide the others' figures
            failed.append(name)
            print("bench: %s FAILED: %s" % (name, e), file=sys.stderr)
            continue
        for k, v in got.items():
            if not (isinstance(v, dict) and isinstance(v.get("value"), (int, float)) and isinstance(v.get("unit"), str)):
                raise SystemExit("bench: provider %s returned a malformed metric %s: %r" % (name, k, v))
        results.update(got)
        print("bench: %-16s %5.1f s  %s" % (name, time.monotonic() - t0,
                                           ", ".join("%s=%s %s" % (k, v["value"], v["unit"]) for k, v in got.items())))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print("bench: wrote %d metrics to %s" % (len(results), args.out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
