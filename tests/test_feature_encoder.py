"""`--feature-bits W.F`: every width and threshold compiles to comparators that equal the
model's own encoder on every code, or is refused with one line (hostile-input class 2).

The reference is `Model.encoder.encode` on the value a code stands for (Q * 2**-F); the RTL
is simulated under Icarus. Thresholds are chosen at the edges that broke the old fixed-point
conversion: beyond the grid (1e19, -1e19, float32 max), on grid points, between adjacent
float32 values, and tiny.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

from lgn_compile import ir
from lgn_compile.backends.verilog_features import (code_values, feature_comparators,
                                                   first_set_codes, parse_feature_bits)
from lgn_compile.cli import main
from lgn_compile.compiler import compile_model
from lgn_compile.model_file import model_from_dict
from lgn_compile.random_net import random_model_dict

SPECS = ["1", "1.1", "5", "8", "8.3", "16.16", "24", "25.2", "32.16", "53.10", "64", "64.64"]


def _edge_thresholds(bits: int, frac: int, count: int, seed: int) -> np.ndarray:
    """Thresholds a fixed-point conversion gets wrong: huge, negative, on and near grid points."""
    rng = np.random.default_rng(seed)
    top = float((1 << bits) - 1) * 2.0 ** -frac
    grid = rng.integers(0, 1 << min(bits, 62), size=count // 2).astype(np.float64) * 2.0 ** -frac
    picks = [1e19, -1e19, 3.0e38, -3.0e38, 0.0, -0.0, 1e-30, top, top * 0.5, 2.0 ** -frac,
             float(np.nextafter(np.float32(top), np.float32(0)))]
    values = np.concatenate([picks, grid, np.nextafter(grid.astype(np.float32), np.float32(1e30)),
                             rng.uniform(-1, top + 1, size=count)])
    return values[:count].astype(np.float32)


def _codes_to_test(bounds: np.ndarray, bits: int) -> list[int]:
    """Each comparator's boundary (bound - 1, bound), both ends of the range."""
    top = (1 << bits) - 1
    codes = {0, top}
    for bound in bounds.ravel().tolist():
        codes.update(c for c in (bound - 1, bound) if 0 <= c <= top)
    return sorted(codes)


def _reference_bits(thresholds: np.ndarray, codes: list[int], frac: int) -> np.ndarray:
    """The encoder's bits for one feature holding each code (the model file's Encoder)."""
    from lgn_compile.model_file import Encoder

    values = np.array(codes, dtype=np.uint64).astype(np.float64) * 2.0 ** -frac
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Encoder(thresholds[None, :]).encode(values[:, None])


@pytest.mark.parametrize("spec", SPECS)
def test_comparators_equal_the_encoder_on_every_boundary_code(spec):
    bits, frac = parse_feature_bits(spec)
    thresholds = _edge_thresholds(bits, frac, 24, seed=bits * 100 + frac)
    bounds = first_set_codes(thresholds, bits, frac)
    codes = _codes_to_test(bounds, bits)
    expected = _reference_bits(thresholds, codes, frac)
    comparators, _ = feature_comparators(thresholds[None, :], bits, frac)
    for i, code in enumerate(codes):
        for bit, expression in comparators[0]:
            if expression.startswith("1'b"):
                got = expression == "1'b1"
            else:
                got = code >= int(expression.rsplit("'d", 1)[1])
            assert got == bool(expected[i, bit]), (spec, code, float(thresholds[bit]), expression)


def test_bounds_are_exact_not_one_off():
    """A bound is the first code that sets the bit: the code below it must not set it
    (mutation guard for an off-by-one in the bisection)."""
    thresholds = np.float32([0.5, 1.0, 7.25])
    bounds = np.array(first_set_codes(thresholds, 8, 2).tolist(), dtype=np.uint64)
    assert (code_values(bounds, 2) > thresholds).all()
    assert not (code_values(bounds - np.uint64(1), 2) > thresholds).any()
    assert bounds.tolist() == [3, 5, 30]
    assert first_set_codes(np.float32([63.75, -0.1]), 8, 2).tolist() == [256, 0]  # never, always


def _feature_model(thresholds: np.ndarray, seed: int = 3):
    num_features, num_thresholds = thresholds.shape
    raw = random_model_dict(seed, num_inputs=num_features * num_thresholds,
                            layer_sizes=(40, 20), num_classes=2)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": num_features,
                                "num_thresholds": num_thresholds}
    raw["state_dict"]["encoder.thresholds"] = torch.from_numpy(thresholds)
    return model_from_dict(raw)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
@pytest.mark.parametrize("spec", ["8", "25.2", "64.64"])
def test_features_module_simulates_like_the_encoder(spec, tmp_path):
    """The emitted `<name>_features.v` under Icarus, on every comparator boundary, equals the
    encoder followed by the network (scores and class)."""
    from lgn_compile.verify.simulate import simulate_run

    bits, frac = parse_feature_bits(spec)
    thresholds = np.stack([_edge_thresholds(bits, frac, 4, seed=s) for s in range(3)])
    model = _feature_model(thresholds)
    files, _ = compile_model(model, ["verilog"], [], backend_options={
        "verilog": {"feature_bits": spec}})
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    bounds = first_set_codes(thresholds, bits, frac)
    codes = _codes_to_test(bounds, bits)[:48]
    samples = np.array([[codes[(i + 7 * f) % len(codes)] for f in range(3)]
                        for i in range(len(codes))], dtype=np.uint64)
    feature_bits = ((samples[:, :, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1))
    feature_bits = feature_bits.reshape(len(samples), -1).astype(np.uint8)
    run = simulate_run(tmp_path / f"{model.name}_features.v", f"{model.name}_features",
                       feature_bits, "icarus", tmp_path / "build",
                       other_sources=[tmp_path / f"{model.name}.v"], input_port="features")
    values = samples.astype(np.float64) * 2.0 ** -frac
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_bits = model.encoder.encode(values)
    from lgn_compile import evaluate

    expected = evaluate.scores(ir.from_model(model), expected_bits)
    assert np.array_equal(run.scores, expected)
    assert np.array_equal(run.classes, expected.argmax(axis=1))


@pytest.mark.parametrize("spec", ["0", "65", "8.9", "x", "8.", "", "1e3", "99999999999999999999",
                                  "-8", "8.-1", " 8 . 2"])
def test_bad_feature_bits_is_one_line(spec, tmp_path, capsys):
    model_path = tmp_path / "m.pt"
    from lgn_compile.model_file import save_model

    thresholds = np.float32([[0.5, 1.5], [2.5, 3.5]])
    raw = random_model_dict(1, num_inputs=4, layer_sizes=(8, 4), num_classes=2)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 2, "num_thresholds": 2}
    raw["state_dict"]["encoder.thresholds"] = torch.from_numpy(thresholds)
    save_model(model_path, raw)
    out = tmp_path / "out"
    assert main([str(model_path), "-t", "verilog", "--feature-bits", spec, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--feature-bits" in err and "Traceback" not in err
    assert not out.exists()
