"""Hypothesis profiles for the property-based tests (imported by tests/conftest.py):

- ``ci`` (default): 100 examples per test, so the suite stays fast on both databases;
- ``thorough``: 10,000 examples per test (``HYPOTHESIS_PROFILE=thorough``), for a run before a release;
- ``HYPOTHESIS_MAX_EXAMPLES=N`` overrides either.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # real databases and HTTP: the time per example varies with the machine's load
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    "database": None,  # no .hypothesis/ folder in the checkout; a failure prints its reproducer
    "print_blob": True,
}
_max = os.environ.get("HYPOTHESIS_MAX_EXAMPLES")
settings.register_profile("ci", **_COMMON, max_examples=int(_max or 100))
settings.register_profile("thorough", **_COMMON, max_examples=int(_max or 10_000))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
