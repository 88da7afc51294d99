"""Shared fixtures: small random models written as real model files."""

from __future__ import annotations

import pytest

from lgn_compile.model_file import load_model, save_model
from lgn_compile.random_net import random_model_dict


@pytest.fixture
def model_path(tmp_path):
    """A random 2-input network saved as model.pt."""
    path = tmp_path / "model.pt"
    save_model(path, random_model_dict(seed=7, num_inputs=19, layer_sizes=(40, 30, 24),
                                       num_classes=4))
    return path


@pytest.fixture
def model(model_path):
    return load_model(model_path)


@pytest.fixture
def train_with_torchrun_and_alone(tmp_path):
    """A function: lgn-train `run` under torchrun (two CPU processes, gloo) and in this
    process -> (torchrun's CompletedProcess, the DDP model, the one-process model). Skips
    where torchrun is not installed beside this Python."""
    return lambda run: _torchrun_and_alone(tmp_path, run)


def _torchrun_and_alone(tmp_path, run: list[str]):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from lgn_train.cli import main as train_main

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this python")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "lgn_train",
                           *run, "-o", str(tmp_path / "ddp.pt")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert train_main(run + ["-o", str(tmp_path / "one.pt")]) == 0
    return proc, load_model(tmp_path / "ddp.pt"), load_model(tmp_path / "one.pt")
