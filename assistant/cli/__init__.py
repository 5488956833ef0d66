"""The `assistant` command: the root group (main), what commands share (context), and one
module per command or command group."""

from .main import main

__all__ = ["main"]
