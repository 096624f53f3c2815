"""Suite-wide settings. Hypothesis runs derandomized (a fixed seed per test)
and without a local example database, so `make test` gives the same verdict
on every machine and every run; explore new seeds on purpose with
`pytest --hypothesis-seed=N` or HYPOTHESIS_PROFILE=explore."""
import os

from hypothesis import settings

settings.register_profile("repo", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repo"))
