#!/usr/bin/env bash
# Set up what is missing (system packages, virtual environment, package, default models),
# then lint and run the whole test suite against the real models. Arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" test
cd "$ROOT"
"$VENV/bin/ruff" check .
"$VENV/bin/python" -m pytest "$@"
