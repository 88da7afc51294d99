"""Determinism: the same model compiles to byte-identical files for every target, and the
same seed trains to an identical model file on the CPU."""

import os
import subprocess
import sys

import torch

from lgn_compile.cli import main

ALL_TARGETS = "verilog,c,python,blif,aiger,dot"


def test_compiling_twice_gives_byte_identical_files(model_path, tmp_path):
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run
        assert main([str(model_path), "-t", ALL_TARGETS, "-o", str(out), "-q"]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0].keys() == outputs[1].keys()
    assert {name.rsplit(".", 1)[-1] for name in outputs[0]} >= {"v", "c", "h", "py", "blif",
                                                                 "aag", "dot", "json"}
    for name, content in outputs[0].items():
        assert content == outputs[1][name], name


def test_separate_processes_with_different_hash_seeds_give_identical_files(model_path, tmp_path):
    """String hashing differs between processes: no output may depend on set or dict order."""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed{seed}"
        proc = subprocess.run([sys.executable, "-m", "lgn_compile", str(model_path), "-t",
                               ALL_TARGETS, "--pipeline", "2", "--testbench", "-o", str(out), "-q"],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]


def _train(path, seed):
    proc = subprocess.run([sys.executable, "-m", "lgn_train", "--dataset", "digits", "--layers",
                           "120,60", "--epochs", "3", "--thresholds", "2", "--seed", str(seed),
                           "--threads", "1", "-q", "-o", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same(a, b, where="model"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_training_with_the_same_seed_gives_an_identical_model(tmp_path):
    first = _train(tmp_path / "a.pt", seed=3)
    second = _train(tmp_path / "b.pt", seed=3)
    for key in ("format", "version", "config", "state_dict", "discrete"):
        _assert_same(first[key], second[key], key)
    other = _train(tmp_path / "c.pt", seed=4)
    assert not all(torch.equal(x, y) for x, y in zip(first["discrete"]["operands"],
                                                     other["discrete"]["operands"]))
