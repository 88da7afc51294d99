"""The one exception type for user errors: the CLI prints its message on one line, exit 2."""


class LgnError(Exception):
    """A problem with the user's input (model file, flags, paths, datasets), not a bug."""
