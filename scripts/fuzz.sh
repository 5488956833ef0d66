#!/usr/bin/env bash
# The fuzz tests with the long Hypothesis profile (2,000 examples a test, random seeds), after
# the same set-up as scripts/test.sh. Arguments go to pytest, e.g. -k audio.
# HYPOTHESIS_PROFILE=ci (the suite's bounded, reproducible profile) may be given instead.
# FUZZ_EXAMPLES=N sets the long profile's examples a test (default 2,000), to fit a time budget.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" test
cd "$ROOT"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-long}"
"$VENV/bin/python" -m pytest tests/test_fuzz_*.py "$@"
