"""The compiler for scripts and notebooks: convert, compile, predict (as hls4ml does).

    import lgn_compile
    compiled = lgn_compile.compile("model.pt", targets=["verilog", "c"], out_dir="out")
    compiled.report["optimization"]["after"]["gates"]
    compiled.predict(features)        # runs the emitted C (built on first use)

`model` may be a model-file path, a loaded `Model`, a model-file dict (what
`lgn_train.export.model_to_dict` or the importers return) or a trained lgn_train net.
Everything the command line checks is checked here too; errors are `LgnError`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgn_compile.backends.verilog_design import COUNTER_INPUTS
from lgn_compile.compiler import ALL_TARGETS, backend_options, compile_model, expand_targets
from lgn_compile.errors import LgnError
from lgn_compile.model_file import Model, load_model, model_from_dict
from lgn_compile.output import commit, plan_outputs
from lgn_compile.passes import PRESETS, parse_pass_list


def as_model(model) -> Model:
    """A `Model` from a path, a Model, a model-file dict or an lgn_train net (nn.Module)."""
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    if isinstance(model, dict):
        return model_from_dict(model)
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a dependency
        nn = None
    if nn is not None and isinstance(model, nn.Module):
        from lgn_train.export import model_to_dict

        return model_from_dict(model_to_dict(model, None))
    raise LgnError(f"cannot compile a {type(model).__name__}: give a model file path, a "
                   "model-file dict, a Model or a trained lgn_train net")


@dataclass
class Compiled:
    """One compile's files and report, and the emitted C as a predictor."""

    model: Model
    files: dict[str, str | bytes]
    report: dict
    out_dir: Path | None = None
    simd: str = "auto"
    _library: object = field(default=None, repr=False)
    _scratch: object = field(default=None, repr=False)

    def library(self):
        """The emitted C, built for this machine and loaded (`verify.c_build.CLibrary`)."""
        if self._library is None:
            from lgn_compile.verify.c_build import CLibrary, build_emitted

            name = self.model.name
            files = self.files if f"{name}.c" in self.files else compile_model(
                self.model, ["c"], self.report["optimization"]["passes"],
                backend_options={"c": {"simd": self.simd}})[0]
            self._scratch = tempfile.TemporaryDirectory(prefix="lgn-compile-")
            so = build_emitted(files, name, self._scratch.name, self.simd)
            self._library = CLibrary(so, name, self.model.num_inputs, self.model.num_classes)
        return self._library

    def _bits(self, x) -> np.ndarray:
        """Input bits from `x`: raw features when the model has an encoder, else bits."""
        if self.model.encoder is not None:
            return np.atleast_2d(self.model.encoder.encode(x))
        bits = np.atleast_2d(np.asarray(x, dtype=np.uint8))
        if bits.ndim != 2 or bits.shape[1] != self.model.num_inputs:
            raise LgnError(f"expected input bits [N, {self.model.num_inputs}], got shape "
                           f"{np.shape(x)}")
        return bits

    def scores(self, x) -> np.ndarray:
        """Class scores int64 [N, classes] of raw features (models with an encoder, in the
        units the model was trained on) or of input bits, computed by the emitted C."""
        return self.library().scores(self._bits(x))

    def predict(self, x) -> np.ndarray:
        """Class indices [N] (argmax of `scores`, ties to the lowest index)."""
        return np.argmax(self.scores(x), axis=1)


def compile(model, targets=ALL_TARGETS, out_dir=None, *, opt_level: int = max(PRESETS),
            passes: list[str] | None = None, force: bool = False, simd: str = "auto",
            pipeline: int = 0, reset: str = "sync", testbench: bool = False,
            feature_bits: str | None = None, synth_report: bool = False,
            counter_inputs: int = COUNTER_INPUTS, pnr_device: str | None = None,
            max_fanout: int = 0) -> Compiled:
    """Compile `model` to `targets` (files kept in memory; written to `out_dir` when given,
    all or nothing, as by the command line) and return them with the report. The keywords
    are the command line's flags; `pnr_device` (a name in synth.PNR_DEVICES) is
    --pnr-report on that device."""
    inputs = [model] if isinstance(model, (str, os.PathLike)) else []
    model = as_model(model)
    targets = expand_targets([targets] if isinstance(targets, str) else list(targets))
    from lgn_compile.backends.c import SIMD_MODES

    if simd not in SIMD_MODES:
        raise LgnError(f"simd must be one of {', '.join(SIMD_MODES)}, not {simd!r}")
    if opt_level not in PRESETS:
        raise LgnError(f"opt_level must be one of {sorted(PRESETS)}, not {opt_level!r}")
    pass_names = PRESETS[opt_level] if passes is None else parse_pass_list(",".join(passes))
    plan = plan_outputs(out_dir, force, inputs=inputs) if out_dir is not None else None
    files, report = compile_model(
        model, targets, pass_names,
        synth_report=synth_report, pnr_device=pnr_device,
        backend_options=backend_options(simd, pipeline, reset, testbench, feature_bits,
                                        counter_inputs, max_fanout))
    if plan is not None:
        commit(plan, files)
    return Compiled(model, files, report, None if out_dir is None else Path(out_dir), simd)
