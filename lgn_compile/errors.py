"""User errors and how both commands report them: one line on stderr, exit code 2.

`lgn-compile` and `lgn-train` share this, so a bad flag or a bad file reads the same in
either tool and a traceback appears only with --debug.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable


class LgnError(Exception):
    """A problem with the user's input (model file, flags, paths, datasets), not a bug."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_command(prog: str, command: Callable[[argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    """Run a parsed command; an LgnError becomes one line and exit 2 (raised with --debug)."""
    try:
        return command(args)
    except LgnError as exc:
        if args.debug:
            raise
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
