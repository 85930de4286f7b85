"""Hypothesis profiles for the engine's property tests, chosen with HYPOTHESIS_PROFILE (default `ci`).

- `ci`: what `make test` runs; about 20 s on two cores; derandomized, so every run checks the same examples.
- `long`: many more and longer runs, for a night or before a release:
  `HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/engine -q`.
- `dev`: a quick smoke run while editing.
- `noshrink`: like `ci` but reports the first failure unshrunk (fast when checking that a deliberate bug in
  the engine is caught).
"""

import os

from hypothesis import HealthCheck, Phase, settings

# `ci` is derandomized: every CI run checks the same examples, so a landing never hinges on luck; exploring new
# examples is what `long` (and `dev`) are for.
settings.register_profile("ci", max_examples=60, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None)
settings.register_profile("long", max_examples=5000, stateful_step_count=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("noshrink", settings.get_profile("ci"), database=None,
                          phases=[Phase.explicit, Phase.generate])
settings.register_profile("dev", max_examples=20, stateful_step_count=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
