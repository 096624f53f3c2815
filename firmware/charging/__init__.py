"""Top-level discharge session: a transition table and a small engine.

The session decides *what phase* the box is in and states its intent to the
safety supervisor; it never drives an output itself.
"""
