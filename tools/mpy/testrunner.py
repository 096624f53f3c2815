"""Minimal test runner for tests/device/ inside MicroPython.

Device tests are plain modules of `test_*` functions using bare `assert`,
so pytest collects the same files on CPython. Prints a closing line in the
'N passed, N failed' form and returns the number of failures.
"""
import sys


def run_modules(names):
    passed = 0
    failed = 0
    for name in names:
        try:
            mod = __import__(name, None, None, ["_"])
        except Exception as exc:  # an import error is a failure of the whole module
            print("ERROR importing", name)
            sys.print_exception(exc)
            failed += 1
            continue
        tests = sorted(n for n in dir(mod) if n.startswith("test_"))
        for t in tests:
            fn = getattr(mod, t)
            if not callable(fn):
                continue
            try:
                fn()
                passed += 1
            except Exception as exc:
                failed += 1
                print("FAIL", name + "." + t)
                sys.print_exception(exc)
    print("micropython: %d passed, %d failed" % (passed, failed))
    return failed
