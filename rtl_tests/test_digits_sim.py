"""A trained digits model in RTL: its test split under both simulators, and the users' testbench.

The model is trained once per module (`lgn-train --dataset digits`, a few seconds), so the
vectors are real encoded digits, not random bits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rtl_helpers import assert_matches_reference

from lgn_compile import ir
from lgn_compile.cli import _dataset_test_bits, main
from lgn_compile.compiler import compile_model
from lgn_compile.model_file import load_model
from lgn_compile.passes import PRESETS
from lgn_compile.verify.simulate import simulate, simulate_run


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(model, model path, encoded test split bits): a 300+200-gate DLGN trained on digits."""
    path = tmp_path_factory.mktemp("digits") / "model.pt"
    subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                    "300,200", "--epochs", "15", "--thresholds", "3", "-q", "-o", str(path)],
                   check=True, timeout=600)
    model = load_model(path)
    bits, _ = _dataset_test_bits(model, "digits", None)
    return model, path, bits


def test_digits_test_split_matches_reference(digits, simulator, tmp_path):
    """The optimized Verilog on every test digit equals the unoptimized network's scores."""
    model, _, bits = digits
    files, _ = compile_model(model, ["verilog"], PRESETS[2])
    verilog = tmp_path / f"{model.name}.v"
    verilog.write_text(files[verilog.name])
    scores, classes = simulate(verilog, model.name, bits, simulator, tmp_path / "build")
    assert_matches_reference(ir.from_model(model), bits, scores, classes)
    assert len(set(classes.tolist())) >= 5  # a trained model: many classes predicted


def _run_testbench(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the users' testbench with nothing but this venv's Python and the system tools."""
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
           "HOME": os.environ.get("HOME", str(directory))}
    return subprocess.run(list(args), cwd=directory, env=env, capture_output=True, text=True,
                          timeout=900)


def test_users_testbench_passes_from_a_copy(digits, tmp_path):
    """`--testbench --pipeline 2`: the output directory, copied elsewhere, passes under both
    simulators with `python run_tb.py`; with one gate changed, `make icarus` fails."""
    model, path, _ = digits
    out = tmp_path / "out"
    assert main([str(path), "-t", "verilog", "--pipeline", "2", "--testbench", "-o", str(out),
                 "-q"]) == 0
    copy = tmp_path / "elsewhere" / "tb"
    shutil.copytree(out, copy)
    shutil.rmtree(out)
    passed = _run_testbench(copy, sys.executable, "run_tb.py")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert f"{model.name}: icarus: PASS" in passed.stdout
    assert f"{model.name}: verilator: PASS" in passed.stdout

    verilog = copy / f"{model.name}.v"
    graph = ir.from_model(model)
    source, count = _flip_a_live_gate(verilog.read_text(), graph)
    assert count == 1
    verilog.write_text(source)
    failed = _run_testbench(copy, "make", f"PYTHON={sys.executable}", "icarus")
    assert failed.returncode != 0
    assert f"{model.name}: icarus: FAIL" in failed.stdout


def _flip_a_live_gate(source: str, graph) -> tuple[str, int]:
    """Turn the first `&` gate of the last logic layer into `|` (every such gate is read)."""
    last_layer = source.rindex("// ---- logic layer ")
    match = re.compile(r"^(\s*wire g\d+ = [^;&|^]*) & ", re.MULTILINE).search(source, last_layer)
    assert match, "no AND gate in the last logic layer"
    flipped = source[:match.start()] + match[1] + " | " + source[match.end():]
    return flipped, int(flipped != source)


def test_features_module_encodes_like_the_model(digits, tmp_path):
    """`--feature-bits 5`: raw digit pixels (0..16) through the RTL comparators and the
    network give the scores of the model's own encoder followed by the network (Icarus)."""
    from lgn_train.data import load_dataset

    model, _, _ = digits
    files, _ = compile_model(model, ["verilog"], PRESETS[2],
                             backend_options={"verilog": {"feature_bits": "5"}})
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    data = load_dataset("digits", seed=model.meta.get("split_seed", model.meta.get("seed", 0)))
    features = np.asarray(data.test_features)
    assert features.min() >= 0 and features.max() < 32 and (features == features.round()).all()
    feature_bits = ((features.astype(np.int64)[:, :, None] >> np.arange(5)) & 1).reshape(
        len(features), -1).astype(np.uint8)
    run = simulate_run(tmp_path / f"{model.name}_features.v", f"{model.name}_features",
                       feature_bits, "icarus", tmp_path / "build",
                       other_sources=[tmp_path / f"{model.name}.v"], input_port="features")
    assert_matches_reference(ir.from_model(model), model.encoder.encode(features), run.scores,
                             run.classes)
