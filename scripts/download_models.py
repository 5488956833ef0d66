#!/usr/bin/env python3
"""Download and verify models: the configured tier's set (`--tier T`, `--language zh`), or the
names given (`--all` for every one).

The same as `assistant models pull`; run it with the project's virtual environment:
    .venv/bin/python scripts/download_models.py [NAME...] [--all]
"""

import sys

from assistant.cli.main import cli

if __name__ == "__main__":
    cli(["models", "pull", *sys.argv[1:]], prog_name="download_models.py")
