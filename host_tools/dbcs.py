"""Loading the project's DBC files (dbc/ is the single source of truth)."""
import os

import cantools

DBC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dbc")


def dbc_names():
    return sorted(f[:-4] for f in os.listdir(DBC_DIR) if f.endswith(".dbc"))


def dbc_path(name):
    if name not in dbc_names():
        raise ValueError("unknown DBC %r (have: %s)" % (name, ", ".join(dbc_names())))
    return os.path.join(DBC_DIR, name + ".dbc")


def load(name):
    return cantools.database.load_file(dbc_path(name), strict=True)


def load_many(names=None):
    """One cantools Database with the messages of several DBCs (IDs must not clash)."""
    names = names or dbc_names()
    db = cantools.database.Database()
    seen = {}
    for n in names:
        for m in load(n).messages:
            if m.frame_id in seen:
                raise ValueError("frame 0x%X is in both %s and %s: monitor one bus at a time"
                                 % (m.frame_id, seen[m.frame_id], n))
            seen[m.frame_id] = n
        db.add_dbc_file(dbc_path(n))
    return db
