"""lgn_train's datasets (MNIST IDX, CIFAR-10 batches), trainer metrics, checkpoint + resume,
metrics files and multi-process (DDP) training. Small subsets and tiny nets only."""

from __future__ import annotations

import gzip
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model
from lgn_train import load_dataset
from lgn_train.cli import main as train_main

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(),
                                 reason=f"real MNIST IDX files not found at {MNIST_DIR}")
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@needs_mnist
def test_mnist_loads_from_idx_files():
    data = load_dataset("mnist", data_dir=MNIST_DIR)
    assert data.train_features.shape == (60000, 784) and data.test_features.shape == (10000, 784)
    assert data.train_features.dtype == np.float32 and data.train_labels.dtype == np.int64
    assert set(np.unique(data.train_labels)) == set(range(10)) and data.num_classes == 10
    assert data.train_features.min() == 0 and data.train_features.max() == 255
    assert data.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's well-known first labels
    assert load_dataset("fashion-mnist", data_dir=MNIST_DIR).name == "fashion-mnist"


@needs_mnist
def test_cli_trains_on_an_mnist_subset(tmp_path):
    out = tmp_path / "m.pt"
    assert train_main(["--dataset", "mnist", "--data-dir", str(MNIST_DIR), "--limit", "600",
                       "--layers", "300,150", "--thresholds", "1", "--epochs", "8",
                       "--parametrization", "iwp", "--arity", "3", "-q", "-o", str(out)]) == 0
    model = load_model(out)
    assert model.num_inputs == 784 and model.layers[0].arity == 3
    assert model.meta["num_train"] == 600 and model.meta["accuracy"]["test_discrete"] > 0.3


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fake_mnist(directory: Path, n_train=20, n_test=10, gz=True):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test)]
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in zip(MNIST_FILES, arrays):
        raw = idx_bytes(array)
        if gz:
            (directory / name).write_bytes(gzip.compress(raw))
        else:
            (directory / name[:-3]).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loader_reads_plain_and_gzipped_files_exactly(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert np.array_equal(data.train_features, arrays[0].reshape(20, 784))
    assert np.array_equal(data.train_labels, arrays[1])
    assert np.array_equal(data.test_features, arrays[2].reshape(10, 784))
    assert np.array_equal(data.test_labels, arrays[3])


def test_idx_loader_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(LgnError, match="--data-dir"):
        load_dataset("mnist")
    with pytest.raises(LgnError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nowhere")
    write_fake_mnist(tmp_path)
    labels = tmp_path / MNIST_FILES[3]
    good = labels.read_bytes()
    cases = [(None, "missing dataset file .*t10k-labels-idx1-ubyte.gz"),
             (good[:len(good) // 2], "corrupt or truncated"),
             (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09" + bytes(3)), "truncated or corrupt"),
             (gzip.compress(b"PK\x03\x04 not idx"), "bad magic"),
             (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x0a" + bytes([1] * 9 + [11])),
              "outside 0..9")]
    for content, message in cases:
        labels.unlink(missing_ok=True)
        if content is not None:
            labels.write_bytes(content)
        with pytest.raises(LgnError, match=message):
            load_dataset("mnist", data_dir=tmp_path)


def write_fake_cifar(directory: Path, per_batch=4):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
                 b"labels": rng.integers(0, 10, per_batch).tolist(), b"batch_label": b"x"}
        (directory / name).write_bytes(pickle.dumps(batch))
        batches[name] = batch
    return batches


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch EXPLOITED",))


def test_cifar10_loader_reads_python_batches_and_refuses_other_pickles(tmp_path, monkeypatch):
    batches = write_fake_cifar(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", data_dir=tmp_path)  # finds the cifar-10-batches-py folder
    assert data.train_features.shape == (20, 3072) and data.test_features.shape == (4, 3072)
    assert np.array_equal(data.train_features[4:8], batches["data_batch_2"][b"data"])
    assert data.test_labels.tolist() == batches["test_batch"][b"labels"]

    folder = tmp_path / "cifar-10-batches-py"
    monkeypatch.chdir(tmp_path)
    for content, message in [(b"garbage", "corrupt or not a python batch"),
                             (pickle.dumps({b"data": np.zeros((2, 5), np.uint8),
                                            b"labels": [0, 1]}), "not a CIFAR-10 batch"),
                             (pickle.dumps(_Exploit()), "refusing to load")]:
        (folder / "test_batch").write_bytes(content)
        with pytest.raises(LgnError, match=message):
            load_dataset("cifar10", data_dir=folder)
    assert not (tmp_path / "EXPLOITED").exists()
    (folder / "data_batch_3").unlink()
    with pytest.raises(LgnError, match="missing dataset file .*data_batch_3"):
        load_dataset("cifar10", data_dir=folder)


DIGITS_RUN = ["--dataset", "digits", "--layers", "120,60", "--thresholds", "2", "--tau", "3",
              "--batch-size", "128", "--threads", "1", "-q", "--sampling", "gumbel",
              "--parametrization", "iwp", "--connections", "unique"]


@pytest.mark.parametrize("extra, finish", [([], []), (["--augment-shift", "2"], []),
                                           ([], ["--lr-decay", "2"])],
                         ids=["plain", "augmented", "decayed"])
def test_resume_from_a_checkpoint_continues_the_run_exactly(tmp_path, capsys, extra, finish):
    """`finish` flags belong to the whole run's command and the resuming one: a decay over
    the last 2 of 4 epochs starts where the 2-epoch constant-rate leg stopped."""
    straight, first, resumed = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    assert train_main(DIGITS_RUN + extra + finish + ["--epochs", "4", "-o", str(straight)]) == 0
    checkpoint = tmp_path / "ck.pt"
    assert train_main(DIGITS_RUN + extra + ["--epochs", "2", "--checkpoint", str(checkpoint),
                                            "-o", str(first)]) == 0
    # a checkpoint is a model file too, with the state to resume
    assert load_model(checkpoint).meta["training"]["epochs"] == 2
    assert train_main(["--resume", str(checkpoint), "--epochs", "4", "-q", "--threads", "1",
                       "-o", str(resumed)] + finish) == 0
    a, c = load_model(straight), load_model(resumed)
    assert c.meta["training"]["steps"] == a.meta["training"]["steps"] == 4 * 12
    for x, y in zip(a.layers, c.layers):
        assert np.array_equal(x.tables, y.tables) and np.array_equal(x.operands, y.operands)
    b = load_model(first)
    assert not all(np.array_equal(x.tables, y.tables) for x, y in zip(a.layers, b.layers))
    # a resumed model's seconds include the earlier runs' (the checkpoint's state)
    state = torch.load(checkpoint, weights_only=True)
    state["training_state"]["seconds"] = 1e5
    torch.save(state, checkpoint)
    assert train_main(["--resume", str(checkpoint), "--epochs", "3", "-q", "--threads", "1",
                       "-o", str(resumed)]) == 0
    assert 1e5 < load_model(resumed).meta["training"]["seconds"] < 1e5 + 600
    capsys.readouterr()
    assert train_main(["--resume", str(straight), "-o", str(resumed)]) == 2
    assert "not a training checkpoint" in capsys.readouterr().err


def test_resume_refuses_a_setting_it_would_drop(tmp_path, capsys):
    """The run's own command with --resume added continues it; a setting given otherwise
    (which the checkpoint's would silently replace) is a one-line error that writes
    nothing; where the data is and the model's name may change."""
    checkpoint, out = tmp_path / "ck.pt", tmp_path / "out.pt"
    assert train_main(DIGITS_RUN + ["--epochs", "1", "--checkpoint", str(checkpoint),
                                    "-o", str(tmp_path / "first.pt")]) == 0
    for flags, fragment in [(["--lr", "0.01"], "--lr 0.01 differs from the checkpoint"),
                            (["--layers", "60,60"], "--layers 60,60 differs"),
                            (["--dataset", "mnist"], "--dataset mnist differs"),
                            (["--limit", "50"], "--limit 50 differs"),
                            (["--parametrization", "softmax16"], "--parametrization softmax16")]:
        capsys.readouterr()
        assert train_main(["--resume", str(checkpoint), "--epochs", "2", *flags,
                           "-o", str(out)]) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], (flags, err)
        assert not out.exists()
    assert train_main(DIGITS_RUN + ["--resume", str(checkpoint), "--epochs", "2",
                                    "--name", "renamed", "-o", str(out)]) == 0
    model = load_model(out)
    assert model.name == "renamed" and model.meta["training"]["steps"] == 2 * 12


def test_lr_decay_keeps_the_rate_then_anneals_it_along_a_half_cosine():
    from lgn_train.trainer import lr_factor

    factors = [lr_factor(step, 10, 4) for step in range(10)]
    assert factors[:7] == [1.0] * 7  # the decay's first update is at the full rate
    assert all(a > b > 0 for a, b in zip(factors[6:], factors[7:]))
    assert factors[6:] == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)])
    assert [lr_factor(step, 10, 0) for step in range(10)] == [1.0] * 10
    assert lr_factor(0, 10, 10) == 1.0 and lr_factor(9, 10, 10) < 0.03


def test_lr_decay_changes_only_the_last_updates_and_shrinks_them():
    """One minibatch per epoch; a snapshot of the parameters after every step: a decayed
    run is the constant one until its decay starts, then its steps get smaller."""
    from lgn_train import LogicNet
    from lgn_train.trainer import train

    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (64, 24)).astype(np.float32)
    labels = rng.integers(0, 2, 64)

    def run(decay: int) -> list[torch.Tensor]:
        net = LogicNet(24, [40, 20], 2, 2.0, seed=0)
        snapshots = []
        train(net, bits, labels, epochs=8, batch_size=64, lr=0.05, device="cpu", progress=False,
              eval_every=100, log=lambda line: None, lr_decay_epochs=decay,
              checkpoint=lambda state: snapshots.append(
                  torch.cat([p.detach().flatten().clone() for p in net.parameters()])))
        return snapshots[:8]  # the last call repeats the end

    constant, decayed = run(0), run(3)
    assert all(torch.equal(a, b) for a, b in zip(constant[:6], decayed[:6]))
    assert not torch.equal(constant[6], decayed[6])

    def last_step(snapshots):
        return (snapshots[7] - snapshots[6]).abs().sum()

    assert last_step(decayed) < 0.3 * last_step(constant)


def test_metrics_files_have_every_evaluation_and_curves(tmp_path):
    out, metrics = tmp_path / "m.pt", tmp_path / "metrics"
    assert train_main(["--dataset", "digits", "--layers", "100,50", "--thresholds", "2",
                       "--epochs", "4", "--eval-every", "1", "-q", "--metrics-dir",
                       str(metrics), "-o", str(out)]) == 0
    history = json.loads((metrics / "metrics.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    for row in history:
        assert row["gap"] == pytest.approx(row["test_soft"] - row["test_discrete"])
        assert 0 < row["utilization"] <= 1
    csv_lines = (metrics / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and "utilization" in csv_lines[0]
    assert (metrics / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    accuracy = load_model(out).meta["accuracy"]
    assert accuracy["test_discrete"] == history[-1]["test_discrete"]
    assert accuracy["utilization"] == history[-1]["utilization"]


def test_cli_rejects_bad_training_options_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "m.pt")
    cases = [(["--arity", "3"], "needs --parametrization iwp"),
             (["--parametrization", "iwp", "--arity", "7"], "--arity must be in 2..6"),
             (["--gumbel-tau", "0"], "--gumbel-tau"),
             (["--init-strength", "-1"], "--init-strength"),
             (["--connections", "unique", "--layers", "100,50"], "unique connections need"),
             (["--dataset", "mnist"], "--data-dir"),
             (["--lr-decay", "-1"], "--lr-decay must be at least 0"),
             (["--resume", str(tmp_path / "none.pt")], "not found")]
    for argv, fragment in cases:
        capsys.readouterr()
        assert train_main(argv + ["-o", out]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lgn-train: error:") and fragment in err[0], err
    assert not Path(out).exists()


@pytest.mark.parametrize("flag, value, enabler", [
    ("--candidates", "8", ["--connections", "learnable"]),
    ("--candidate-group", "8", ["--connections", "learnable"]),
    ("--connection-strength", "1", ["--connections", "learnable"]),
    ("--connection-lr", "0.1", ["--connections", "learnable"]),
    ("--connection-relax", "soft", ["--connections", "learnable", "--sampling", "soft"]),
    ("--gumbel-tau", "2", ["--sampling", "gumbel"]),
    ("--activation", "sigmoid", ["--parametrization", "iwp"]),
    ("--init-strength", "2", ["--init", "residual"]),  # the base run's init: uniform
    ("--checkpoint-every", "2", ["--checkpoint", "CK"])])
def test_a_flag_that_would_do_nothing_is_an_error(tmp_path, capsys, flag, value, enabler):
    """e.g. --candidates without --connections learnable would train fixed random wiring:
    said in one line, nothing written; with the setting it acts in, the same flag trains."""
    out = tmp_path / "m.pt"
    enabler = [str(tmp_path / "ck.pt") if a == "CK" else a for a in enabler]
    base = ["--dataset", "digits", "--layers", "60,30", "--thresholds", "2", "--threads", "1",
            "-q", "-o", str(out)]
    without = ["--init", "uniform"] if flag == "--init-strength" else []
    capsys.readouterr()
    assert train_main(base + [flag, value, "--steps", "1"] + without) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{flag} applies only with" in err[0], err
    assert not out.exists()
    assert train_main(base + [flag, value, "--steps", "1"] + enabler) == 0
    if flag == "--connection-relax":  # a Gumbel run samples its picks: no relaxation
        assert train_main(base + [flag, value, "--steps", "1", "--connections", "learnable",
                                  "--sampling", "gumbel"]) == 2


def test_the_run_length_is_given_once(tmp_path, capsys):
    assert train_main(["--dataset", "digits", "--epochs", "2", "--steps", "3",
                       "-o", str(tmp_path / "m.pt")]) == 2
    assert "not both" in capsys.readouterr().err


def test_torchrun_with_two_cpu_processes_trains_like_one_process(train_with_torchrun_and_alone):
    """DistributedDataParallel on the gloo backend: two processes each take half of every
    minibatch and average gradients, so the model is (up to float rounding) the one a single
    process trains on whole minibatches."""
    run = ["--dataset", "digits", "--layers", "200,100", "--thresholds", "2", "--epochs", "3",
           "--threads", "1", "--device", "cpu", "--sampling", "gumbel", "-q"]
    proc, ddp, one = train_with_torchrun_and_alone(run)
    assert proc.stdout.count("lgn-train: wrote") == 1  # only rank 0 writes
    assert ddp.meta["training"]["steps"] == 3 * 12
    same = sum((x.tables == y.tables).all(1).sum() for x, y in zip(ddp.layers, one.layers))
    assert same >= 0.95 * ddp.num_gates
