"""`lgn_compile.compile(...)`: the compiler from Python, and `predict` through the emitted C,
for every kind of model argument, equal to the reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lgn_compile
from lgn_compile import evaluate, ir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model, model_from_dict, save_model
from lgn_compile.random_net import random_input_bits, random_model_dict


def _raw():
    return random_model_dict(3, num_inputs=16, layer_sizes=(48, 30), num_classes=3)


@pytest.mark.parametrize("kind", ["path", "str", "dict", "model"])
def test_compile_then_predict_equals_the_reference(tmp_path, kind):
    raw = _raw()
    save_model(tmp_path / "m.pt", raw)
    model_arg = {"path": tmp_path / "m.pt", "str": str(tmp_path / "m.pt"), "dict": raw,
                 "model": load_model(tmp_path / "m.pt")}[kind]
    compiled = lgn_compile.compile(model_arg, targets=["python", "verilog"])
    assert set(compiled.files) >= {"random_net.py", "random_net.v", "report.json"}
    bits = random_input_bits(1, 300, 16)
    expected = evaluate.scores(ir.from_model(model_from_dict(raw)), bits)
    assert np.array_equal(compiled.scores(bits), expected)  # C built although not a target
    assert np.array_equal(compiled.predict(bits), expected.argmax(axis=1))
    assert compiled.report["optimization"]["after"]["gates"] <= 78


def test_compile_writes_out_dir_like_the_cli(tmp_path):
    compiled = lgn_compile.compile(_raw(), "all", tmp_path / "out", opt_level=0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(compiled.files)
    assert compiled.report["optimization"]["passes"] == []
    with pytest.raises(LgnError, match="not empty"):
        lgn_compile.compile(_raw(), "c", tmp_path / "out")


def test_compile_a_trained_lgn_train_net_and_its_sequential():
    from lgn_train.layers import GroupSum, LogicLayer, LogicNet

    torch.manual_seed(0)
    net = LogicNet(12, [40, 30], num_classes=3).eval()
    sequential = torch.nn.Sequential(*net.layers, GroupSum(3))
    bits = random_input_bits(2, 100, 12)
    expected = net.discrete_scores(bits)
    for model in (net, sequential):
        assert np.array_equal(lgn_compile.compile(model, "python").scores(bits), expected)
    assert isinstance(net.layers[0], LogicLayer)


def test_predict_takes_raw_features_when_the_model_has_an_encoder():
    raw = random_model_dict(4, num_inputs=12, layer_sizes=(30, 12), num_classes=2)
    raw["config"]["encoder"] = {"type": "thermometer", "num_features": 4, "num_thresholds": 3}
    raw["state_dict"]["encoder.thresholds"] = torch.linspace(0, 1, 12).reshape(4, 3)
    model = model_from_dict(raw)
    features = np.random.default_rng(0).uniform(0, 1, size=(50, 4)).astype(np.float32)
    expected = evaluate.scores(ir.from_model(model), model.encoder.encode(features))
    assert np.array_equal(lgn_compile.compile(model, "c").scores(features), expected)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"targets": "verilgo"}, "unknown target"), ({"targets": []}, "no target"),
    ({"passes": ["nope"]}, "unknown pass"), ({"opt_level": 7}, "opt_level"),
    ({"simd": "neon9"}, "simd"), ({"counter_inputs": 7}, "counters take 3, 4, 5, 6 inputs"),
    ({"pnr_device": "xc7a35t"}, "unknown place-and-route device 'xc7a35t'"),
    ({"targets": "c", "pnr_device": "ecp5-85k"}, "needs the verilog target")])
def test_bad_arguments_are_lgn_errors(kwargs, fragment):
    with pytest.raises(LgnError, match=fragment):
        lgn_compile.compile(_raw(), **kwargs)


def test_bad_model_argument():
    with pytest.raises(LgnError, match="cannot compile a int"):
        lgn_compile.compile(3)


def test_out_dir_holding_the_model_file_is_refused(tmp_path):
    save_model(tmp_path / "m.pt", _raw())
    with pytest.raises(LgnError, match="holds the input"):
        lgn_compile.compile(tmp_path / "m.pt", "c", tmp_path, force=True)
    assert (tmp_path / "m.pt").exists()


def test_compile_takes_the_command_lines_hardware_options():
    """counter_inputs reaches the Verilog head as --counter-inputs does."""
    compiled = lgn_compile.compile(_raw(), "verilog", counter_inputs=3)
    verilog = next(text for name, text in compiled.files.items() if name.endswith(".v"))
    assert "counter_inputs=3" in verilog and "_of3 =" in verilog
    assert compiled.report["verilog"]["head"]["counter_inputs"] == 3

