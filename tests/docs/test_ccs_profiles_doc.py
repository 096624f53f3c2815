"""docs/ccs-profiles.md against firmware/protocols/ccs/profiles.py: one row per profile,
the protocols and loop limit the code has."""
import os
import re

from firmware.protocols.ccs import profiles

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHORT = {"din": "DIN", "iso2": "ISO-2", "tesla": "Tesla"}


def test_every_profile_has_a_row_with_its_protocols_and_loop_limit():
    with open(os.path.join(ROOT, "docs", "ccs-profiles.md")) as f:
        text = f.read()
    rows = {m.group(1): (m.group(2).strip(), m.group(3).strip())
            for m in re.finditer(r"^\| `([a-z0-9-]+)` \| ([^|]+) \| ([^|]+) \|", text, re.M)}
    assert sorted(rows) == sorted(profiles.names())
    for n in profiles.names():
        p = profiles.get(n)
        assert rows[n][0] == ", ".join(SHORT[x] for x in p["protocols"]), n
        assert rows[n][1] == ("%d s" % p["loop_limit_s"] if p["loop_limit_s"] else "unknown"), n
