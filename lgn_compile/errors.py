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

    def parse_given(self, argv: list[str]) -> argparse.Namespace:
        """`parse_args(argv)` with `given` added: the settings argv gives itself (dest:
        value, defaults left out), so that a flag with no effect where it is given can be
        an error rather than silently ignored."""
        args = self.parse_args(argv)
        defaults = [(action, action.default) for action in self._actions]
        try:
            for action, _ in defaults:
                action.default = argparse.SUPPRESS
            args.given = vars(self.parse_args(argv))
        finally:
            for action, default in defaults:
                action.default = default
        return args


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
