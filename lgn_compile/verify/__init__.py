"""Verification: every backend must compute exactly what the trained network computes.

`check_backends` runs the same input bits through independent paths — the torch discrete
forward (lgn_train), the IR reference evaluator on the unoptimized graph, the emitted
Python module, the emitted C (gcc + ctypes) and the emitted Verilog (cocotb under Icarus
and Verilator) — and compares class scores and class indices bit-exactly.
"""

from __future__ import annotations

import importlib.util
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgn_compile import evaluate, ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import Model
from lgn_compile.verify import simulate as simulation

SIMULATORS = simulation.SIMULATORS


@dataclass
class BackendResult:
    backend: str
    scores: np.ndarray
    classes: np.ndarray
    mismatches: int = 0
    first_mismatch: int | None = None


@dataclass
class Verification:
    reference: np.ndarray
    results: list[BackendResult] = field(default_factory=list)

    @property
    def all_agree(self) -> bool:
        return all(r.mismatches == 0 for r in self.results)

    def add(self, backend: str, scores: np.ndarray, classes: np.ndarray | None = None) -> None:
        scores = np.asarray(scores, dtype=np.int64)
        if scores.shape != self.reference.shape:
            raise LgnError(f"{backend} gave scores of shape {scores.shape}, expected "
                           f"{self.reference.shape} (is the directory compiled from this model?)")
        if classes is None:
            classes = np.argmax(scores, axis=1)
        expected_classes = np.argmax(self.reference, axis=1)
        bad = np.flatnonzero((scores != self.reference).any(axis=1)
                             | (np.asarray(classes) != expected_classes))
        self.results.append(BackendResult(backend, scores, np.asarray(classes), len(bad),
                                          int(bad[0]) if len(bad) else None))


def torch_discrete_scores(model: Model, bits: np.ndarray) -> np.ndarray:
    """Scores of the torch nn.Module rebuilt from the model file, in eval (discrete) mode."""
    from lgn_train.export import model_from_file

    return model_from_file(model).discrete_scores(bits)


def python_module_scores(module_path: Path, bits: np.ndarray) -> np.ndarray:
    """Import the emitted standalone module from its file and run it."""
    spec = importlib.util.spec_from_file_location(f"_lgn_emitted_{module_path.stem}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scores(bits)


MAX_EMITTED_BYTES = 1 << 30  # an emitted file larger than this is not ours


@contextmanager
def _users_file(path: Path):
    """Running a file from the user's directory: whatever it raises (it may be edited,
    truncated or from another version) is a problem with that file, reported in one line.
    It must be a regular file: a FIFO or device would block the tools that read it."""
    from lgn_compile.model_file import open_regular_file

    with open_regular_file(path, "emitted file", MAX_EMITTED_BYTES):
        pass
    try:
        yield
    except (KeyboardInterrupt, MemoryError):
        raise
    except LgnError as exc:
        raise LgnError(exc if str(path) in str(exc) else f"{path}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 -- any failure of the user's file
        text = str(exc).strip().splitlines()
        raise LgnError(f"{path}: {type(exc).__name__}: {text[0][:200] if text else ''} "
                       "(recompile the directory with lgn-compile)") from exc


def c_library(c_file: Path, model: Model, build_dir: Path):
    """The emitted C built for this machine (gcc -march=native) and loaded."""
    from lgn_compile.verify.c_build import CLibrary, build_shared_library

    library = build_shared_library(c_file, build_dir / f"lib{model.name}.so")
    return CLibrary(library, model.name, model.num_inputs, model.num_classes)


def c_paths(c_file: Path, model: Model, bits: np.ndarray,
            build_dir: Path) -> dict[str, np.ndarray]:
    """Scores from each C entry point: the batch API on bytes and on packed bits, and the
    one-sample (embedded) API sample by sample."""
    from lgn_compile.verify.c_build import pack_inputs

    library = c_library(c_file, model, build_dir)
    return {"C batch (gcc -march=native)": library.scores(bits),
            "C packed bits": library.scores(pack_inputs(bits), packed=True),
            "C one-sample": np.array([library.classify(row)[1] for row in bits],
                                     dtype=np.int64).reshape(len(bits), model.num_classes)}


def check_backends(model: Model, out_dir: Path, bits: np.ndarray,
                   simulators=SIMULATORS, progress=print) -> Verification:
    """Run `bits` through every path whose output exists in out_dir and compare with the IR."""
    out_dir = Path(out_dir)
    verification = Verification(evaluate.scores(ir.from_model(model), bits))
    progress("torch discrete forward ...")
    verification.add("torch discrete", torch_discrete_scores(model, bits))
    python_file = out_dir / f"{model.name}.py"
    if python_file.exists():
        progress("emitted Python ...")
        with _users_file(python_file):
            verification.add("python (numpy)", python_module_scores(python_file, bits))
    with tempfile.TemporaryDirectory(prefix="lgn-verify-") as tmp:
        c_file = out_dir / f"{model.name}.c"
        if c_file.exists():
            progress("emitted C (gcc) ...")
            with _users_file(c_file):
                for path, scores in c_paths(c_file, model, bits, Path(tmp)).items():
                    verification.add(path, scores)
        verilog_file = out_dir / f"{model.name}.v"
        if verilog_file.exists():
            for simulator in simulators:
                progress(f"emitted Verilog under {simulator} (cocotb) ...")
                with _users_file(verilog_file):
                    scores, classes = simulation.simulate(verilog_file, model.name, bits,
                                                          simulator, Path(tmp) / f"sim_{simulator}")
                    verification.add(f"Verilog ({simulator})", scores, classes)
    if len(verification.results) < 2:
        raise LgnError(f"no emitted files for model '{model.name}' in {out_dir}")
    return verification
