"""The fault-injection matrix passes, the docs generated from the table and
the matrix are current, and the bench provider reports the figures."""
import os
import subprocess
import sys

from hil import safety_matrix as M
from tests.safety.tools_import import gen_docs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_cell_passes():
    r = M.cached_matrix()
    bad = ["%s/%s: %s" % (c["fault"], c["state"], c["problems"]) for c in r["cells"] if not c["passed"]]
    assert not bad, bad
    assert r["total"] == len(M.FAULTS) * 15 == 315


def test_reaction_figures_within_stated_bounds():
    r = M.cached_matrix()
    assert r["estop_reaction_ms"] == 0                 # interrupt path: same instant
    assert r["estop_polled_ms"] < 10                   # polled backstop: within one tick
    assert 0 < r["worst_reaction_ms"] <= max(M.BOUND_MS.values())
    # every fault class that has to act did act somewhere
    seen = {c["observed"] for c in r["cells"]}
    assert seen == {M.IGN, M.REF, M.STOP, M.CUT, M.TRIP, M.LOCK}


def test_emergency_trips_are_logged_and_only_on_trips():
    r = M.cached_matrix()
    for c in r["cells"]:
        if c["emergency_opens"]:
            assert c["observed"] == M.TRIP, c


def test_session_diagram_is_current():
    gen = gen_docs()
    with open(gen.SESSION_DOC) as f:
        assert f.read() == gen.session_states_md(), "run: python tools/gen_safety_docs.py"


def test_fault_matrix_doc_is_current():
    gen = gen_docs()
    with open(gen.MATRIX_DOC) as f:
        assert f.read() == gen.fault_matrix_md(M.cached_matrix()), "run: python tools/gen_safety_docs.py"


def test_generator_check_mode_detects_staleness(tmp_path):
    gen = gen_docs()
    old = gen.SESSION_DOC
    try:
        gen.SESSION_DOC = str(tmp_path / "s.md")
        with open(gen.SESSION_DOC, "w") as f:
            f.write("stale\n")
        gen.MATRIX_DOC, keep = str(tmp_path / "m.md"), gen.MATRIX_DOC
        with open(gen.MATRIX_DOC, "w") as f:
            f.write(gen.fault_matrix_md(M.cached_matrix()))
        assert gen.main(["--check"]) == 1
        assert gen.main([]) == 0 and gen.main(["--check"]) == 0
    finally:
        gen.SESSION_DOC = old
        gen.MATRIX_DOC = keep


def test_bench_provider():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import safety_bench
    finally:
        sys.path.pop(0)
    m = safety_bench.collect()
    for k, unit in (("safety.fault_matrix_passed", "count"), ("safety.fault_matrix_total", "count"),
                    ("safety.worst_reaction_ms", "ms"), ("safety.estop_reaction_ms", "ms"),
                    ("safety.stall_to_d2_off_ms", "ms"), ("safety.plausibility_faults", "count")):
        assert m[k]["unit"] == unit and isinstance(m[k]["value"], int)
    assert m["safety.fault_matrix_passed"]["value"] == m["safety.fault_matrix_total"]["value"]
    assert 0 < m["safety.stall_to_d2_off_ms"]["value"] <= M.STALL_D2_BOUND_MS
    assert m["safety.plausibility_faults"]["value"] >= 6
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "safety_bench.py")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and '"safety.worst_reaction_ms"' in out.stdout
