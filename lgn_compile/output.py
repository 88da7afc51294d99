"""Writing a run's outputs: all of them committed together, or none.

A compile writes an output directory and, with `--report`, two files elsewhere. Everything
is checked before anything is written (`plan_outputs`: paths that would replace an input,
the directory the user is in, or an existing file without --force are refused), staged
beside its destination, then moved into place with signals blocked; a failure or a signal
before the end removes every staged file and restores anything already replaced. Nothing is
left behind: no staging directories, no `.old` copies, no parent directories we created.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lgn_compile.errors import LgnError

_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class OutputPlan:
    """Where a run's outputs go, checked: the directory and the extra files (real paths)."""

    out_dir: Path
    extra: list[Path] = field(default_factory=list)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _real(path: Path, what: str) -> Path:
    """The path with every symlink resolved; a dangling symlink is refused, not followed."""
    if path.is_symlink() and not path.exists():
        raise LgnError(f"{what} {path} is a symlink to a path that does not exist")
    return path.resolve()


def plan_outputs(out_dir, force: bool, inputs=(), extra=(), label: str = "output") -> OutputPlan:
    """Check a run's destinations before any work is written (one LgnError line each).

    `inputs` are the files the run reads: no output may replace or contain one. `extra` are
    files written beside the directory (`label` names them in messages, e.g. "report").
    """
    real_dir = _real(Path(out_dir), "output directory")
    if real_dir.exists() and not real_dir.is_dir():
        raise LgnError(f"output path exists and is not a directory: {out_dir}")
    existing = next(p for p in real_dir.parents if p.exists())
    if not existing.is_dir():
        raise LgnError(f"cannot create output directory {out_dir}: {existing} is not a directory")
    if real_dir.exists() and any(real_dir.iterdir()) and not force:
        raise LgnError(f"output directory {out_dir} is not empty (use --force to replace it)")
    cwd = Path.cwd().resolve()
    if _inside(cwd, real_dir):
        raise LgnError(f"output directory {out_dir} is the current directory or holds it; "
                       "give a new directory (e.g. -o out/)")
    real_inputs = [Path(p).resolve() for p in inputs]
    for source in real_inputs:
        if _inside(source, real_dir):
            raise LgnError(f"output directory {out_dir} holds the input {source.name}; "
                           "replacing it would delete the input")
    staged: list[Path] = []
    for path in extra:
        real = _real(Path(path), f"{label} file")
        what = f"cannot write {label} {path}"
        if real.is_dir():
            raise LgnError(f"{what}: it is a directory")
        if not real.parent.is_dir():
            raise LgnError(f"{what}: directory {Path(path).parent} does not exist")
        if real in real_inputs:
            raise LgnError(f"{what}: it is an input of this run")
        if _inside(real, real_dir):
            raise LgnError(f"{what}: it is inside the output directory {out_dir}, which is "
                           "replaced as a whole (report.json is already there)")
        if real in staged:
            raise LgnError(f"{what}: another output of this run is the same file")
        if real.exists() and not force:
            raise LgnError(f"{what}: it exists (use --force to replace it)")
        staged.append(real)
    return OutputPlan(real_dir, staged)


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while staging, so cleanup runs as for Ctrl-C."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals cannot reach this code
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_blocked():
    """The renames of a commit run to the end; a signal arriving meanwhile is delivered after."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _write(path: Path, content: str | bytes, mode: int) -> None:
    with open(path, "wb") as handle:
        handle.write(content.encode() if isinstance(content, str) else content)
    os.chmod(path, mode)


def _missing_ancestor(directory: Path) -> Path | None:
    """The topmost ancestor of `directory` that does not exist yet (to remove on failure)."""
    top = None
    for candidate in [directory, *directory.parents]:
        if candidate.exists():
            break
        top = candidate
    return top


def commit(plan: OutputPlan, files: dict[str, str | bytes], extra=()) -> None:
    """Write `files` into plan.out_dir and `extra` (contents, in the order of plan.extra)
    into the plan's extra files, all or nothing."""
    if len(extra) != len(plan.extra):
        raise RuntimeError("commit needs one content per planned extra file")
    file_mode, dir_mode = 0o666 & ~_umask(), 0o777 & ~_umask()
    parent = plan.out_dir.parent
    created = _missing_ancestor(parent)
    staging, temps, replaced, moved_in = None, {}, [], []
    try:
        with _terminate_as_interrupt():
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{plan.out_dir.name}.", dir=parent))
            for name, content in files.items():
                _write(staging / name, content, file_mode)
            os.chmod(staging, dir_mode)
            for path, content in zip(plan.extra, extra):
                handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                os.close(handle)
                temps[path] = Path(temp)
                _write(Path(temp), content, file_mode)
            with _signals_blocked():
                # (destination, where its previous version went) for each rename, in order
                destinations = [(plan.out_dir, staging)] + [(p, t) for p, t in temps.items()]
                for destination, source in destinations:
                    if destination.exists():
                        backup = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old.",
                                                       dir=destination.parent))
                        os.replace(destination, backup / "previous")
                        replaced.append((destination, backup))
                    os.replace(source, destination)
                    moved_in.append(destination)
                for _, backup in replaced:
                    shutil.rmtree(backup, ignore_errors=True)
                replaced.clear()
    except BaseException as exc:
        _roll_back(moved_in, replaced)
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        if isinstance(exc, OSError):
            raise LgnError(f"cannot write the outputs ({exc.filename or plan.out_dir}): "
                           f"{exc.strerror or exc}; nothing was written") from exc
        raise


def _roll_back(moved_in: list[Path], replaced: list[tuple[Path, Path]]) -> None:
    """Undo a partial commit: remove what was moved in, put back what it replaced."""
    with _signals_blocked():
        for destination in moved_in:
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination, ignore_errors=True)
            else:
                destination.unlink(missing_ok=True)
        for destination, backup in replaced:
            os.replace(backup / "previous", destination)
            shutil.rmtree(backup, ignore_errors=True)
