#!/usr/bin/env python3
"""Conversation settings side by side on the same spoken questions, interleaved (see
assistant/bench/side_by_side.py): voice to voice, its stages, and the first spoken chunk.

scripts/side_by_side.py --set models.tier=default --variant first_chunk_ms=0 \
    --variant first_chunk_ms=150 --iterations 2 --output /tmp/side
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.bench.side_by_side import compare, table
from assistant.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="SECTION.KEY=VALUE")
    parser.add_argument("--variant", action="append", required=True, help="OPTION=VALUE[,...]")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path.home() / ".cache/assistant/side")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    config = load_config(overrides=overrides)
    results = compare(config, args.variant, iterations=args.iterations, output=args.output,
                      say=lambda line: print(line, flush=True))  # fmt: skip
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "side_by_side.json").write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
