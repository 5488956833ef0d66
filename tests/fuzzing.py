"""Hypothesis settings for the fuzz tests: a bounded "ci" profile for the suite and a "long" one
for scripts/fuzz.sh (HYPOTHESIS_PROFILE=long; FUZZ_EXAMPLES examples a test, 2,000 by default).
Examples that found a bug stay in the tests as @example regressions, so they run whatever the
profile."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE_VARIABLE = "HYPOTHESIS_PROFILE"
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=SLOW_OK
)
LONG_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))  # a test, in the long profile
settings.register_profile(
    "long", max_examples=LONG_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK
)
settings.load_profile(os.environ.get(PROFILE_VARIABLE, "ci"))


def scaled(examples: int) -> settings:
    """`examples` under the ci profile (a test whose example is costly runs fewer), and the
    profile's own count otherwise."""
    if settings.default.max_examples > settings.get_profile("ci").max_examples:
        return settings(max_examples=settings.default.max_examples)
    return settings(max_examples=examples)


# values as a careless or hostile client writes them: NaN, infinities, integers of 22 digits
scalars = (
    st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)


def nested(leaves: st.SearchStrategy, max_leaves: int) -> st.SearchStrategy:
    """JSON-like values (lists and objects) built of `leaves`."""
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )
