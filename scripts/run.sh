#!/usr/bin/env bash
# Set up what is missing (virtual environment, package, default models), then run the assistant.
# Arguments go to the `assistant` command: scripts/run.sh reply question.wav -o answer.wav
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$VENV/bin/assistant" "$@"
