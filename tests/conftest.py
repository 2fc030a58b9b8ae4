"""Shared test configuration: Hypothesis profiles.

Select one with ``SYNCENGINE_HYPOTHESIS_PROFILE`` (``dev`` by default; CI uses ``ci``;
``deterministic`` derandomizes; ``long`` runs many more examples for soak runs).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("deterministic", max_examples=50, deadline=None, derandomize=True)
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("SYNCENGINE_HYPOTHESIS_PROFILE", "dev"))
