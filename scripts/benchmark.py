#!/usr/bin/env python3
"""Run the latency benchmark: the same as `assistant bench` (see `--help`).

scripts/benchmark.py                 # the full run: 3 iterations, table in bench-results/
scripts/benchmark.py --quick         # one iteration of three utterances (CI smoke run)
scripts/benchmark.py --set stt.beam_size=5 --iterations 5 --output /tmp/bench
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.cli.main import cli


def main() -> None:
    # the global options (--set, --config) go before the command, the rest after it
    args, before, rest = sys.argv[1:], [], []
    while args:
        if args[0] in ("--set", "--config") and len(args) > 1:
            before += args[:2]
            args = args[2:]
        else:
            rest.append(args.pop(0))
    cli([*before, "bench", *rest], prog_name="benchmark.py")


if __name__ == "__main__":
    main()
