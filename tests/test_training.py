"""The training frontend (lgn_train): gate relaxation vs discretization, export round trip,
encoder, determinism and the lgn-train command line. Tiny nets and few steps only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from lgn_compile import evaluate, ir
from lgn_compile.errors import LgnError
from lgn_compile.gates import difflogic_op_to_table, evaluate_table
from lgn_compile.model_file import Encoder, load_model, save_model
from lgn_compile.random_net import random_input_bits, random_model_dict
from lgn_train import (GroupSum, LogicLayer, LogicNet, ThermometerEncoder, load_dataset,
                       model_from_file, model_to_dict, train)
from lgn_train.cli import main as train_main
from lgn_train.parametrizations import OP_TABLES

# difflogic's 16 real-valued ops, written out independently of lgn_train (difflogic's bin_op).
DIFFLOGIC_REAL_OPS = [
    lambda a, b: torch.zeros_like(a),
    lambda a, b: a * b,
    lambda a, b: a - a * b,
    lambda a, b: a,
    lambda a, b: b - a * b,
    lambda a, b: b,
    lambda a, b: a + b - 2 * a * b,
    lambda a, b: a + b - a * b,
    lambda a, b: 1 - (a + b - a * b),
    lambda a, b: 1 - (a + b - 2 * a * b),
    lambda a, b: 1 - b,
    lambda a, b: 1 - b + a * b,
    lambda a, b: 1 - a,
    lambda a, b: 1 - a + a * b,
    lambda a, b: 1 - a * b,
    lambda a, b: torch.ones_like(a),
]


def layer_with_op(op: int, in_dim: int = 9, out_dim: int = 7, seed: int = 3) -> LogicLayer:
    """A layer whose every neuron has op `op` winning by a wide margin."""
    layer = LogicLayer(in_dim, out_dim, seed=seed, init="uniform")
    with torch.no_grad():
        layer.logits.fill_(-3.0)
        layer.logits[:, op] = 1e4  # softmax is exactly one-hot in float32
    return layer


def expected_bits(op: int, layer: LogicLayer, bits: torch.Tensor) -> torch.Tensor:
    """Output of op `op` on each neuron's operands, via the table from gates.py."""
    table = difflogic_op_to_table(op)
    a = bits[:, layer.indices[0]].long()
    b = bits[:, layer.indices[1]].long()
    out = torch.zeros_like(a)
    for i in range(a.shape[0]):
        for g in range(a.shape[1]):
            out[i, g] = evaluate_table(table, (int(a[i, g]), int(b[i, g])))
    return out


@pytest.mark.parametrize("op", range(16))
def test_every_op_discretize_eval_and_one_hot_training_forward_agree(op):
    layer = layer_with_op(op)
    bits = torch.randint(0, 2, (32, 9), generator=torch.Generator().manual_seed(op)).float()
    expected = expected_bits(op, layer, bits)

    operands, tables = layer.discretize()
    assert operands.dtype == torch.int64 and tuple(operands.shape) == (7, 2)
    assert tables.dtype == torch.uint8 and tuple(tables.shape) == (7, 4)
    assert torch.equal(operands, layer.indices.t())
    table = difflogic_op_to_table(op)
    assert all(int(sum(int(v) << j for j, v in enumerate(row))) == table for row in tables)

    layer.eval()
    assert torch.equal(layer(bits).long(), expected)
    assert torch.equal(layer.forward_discrete(bits).long(), expected)
    layer.train()
    assert torch.equal(layer(bits), expected.float())  # one-hot relaxed gate on bits

    # On real-valued inputs the relaxed gate is difflogic's real-valued op.
    real = torch.rand(32, 9, generator=torch.Generator().manual_seed(100 + op))
    a, b = real[:, layer.indices[0]], real[:, layer.indices[1]]
    torch.testing.assert_close(layer(real), DIFFLOGIC_REAL_OPS[op](a, b), atol=1e-6, rtol=0)


def test_relaxed_forward_is_the_softmax_mix_of_the_16_ops():
    layer = LogicLayer(6, 5, seed=1, init="uniform")
    x = torch.rand(11, 6, generator=torch.Generator().manual_seed(0))
    a, b = x[:, layer.indices[0]], x[:, layer.indices[1]]
    probs = torch.softmax(layer.logits, dim=-1)
    mix = sum(probs[:, op] * DIFFLOGIC_REAL_OPS[op](a, b) for op in range(16))
    torch.testing.assert_close(layer(x), mix, atol=1e-5, rtol=0)
    assert tuple(OP_TABLES.shape) == (16, 4)


def test_wiring_is_a_seeded_buffer_covering_all_inputs():
    layer = LogicLayer(30, 20, seed=5)
    assert "indices" in layer.state_dict() and layer.indices.dtype == torch.int64
    assert tuple(layer.indices.shape) == (2, 20)
    assert set(layer.indices.flatten().tolist()) == set(range(30))  # 2*20 >= 30
    assert torch.equal(layer.indices, LogicLayer(30, 20, seed=5).indices)
    assert not torch.equal(layer.indices, LogicLayer(30, 20, seed=6).indices)
    residual = LogicLayer(30, 20, seed=5, init="residual")
    assert (residual.discretize()[1].numpy() @ [1, 2, 4, 8] == 10).all()  # gate A = table 10
    assert "parametrization='softmax16'" in repr(layer)


@pytest.mark.parametrize("activation", ["sin", "sigmoid"])
@pytest.mark.parametrize("arity", [1, 2, 3, 6])
def test_iwp_layer_tables_match_eval_and_saturated_training_forward(arity, activation):
    layer = LogicLayer(8, 12, parametrization="iwp", arity=arity, seed=2, init="uniform",
                       activation=activation)
    rng = np.random.default_rng(arity)
    tables = rng.integers(0, 2, size=(12, 1 << arity), dtype=np.uint8)
    layer.set_tables(tables, confidence=50.0)
    assert np.array_equal(layer.discretize()[1].numpy(), tables)
    bits = torch.from_numpy(rng.integers(0, 2, size=(40, 8))).float()
    index = sum(bits[:, layer.indices[i]].long() << i for i in range(arity))
    expected = torch.from_numpy(tables).long().gather(1, index.t()).t()
    assert torch.equal(layer.eval()(bits).long(), expected)
    torch.testing.assert_close(layer.train()(bits), expected.float(), atol=1e-6, rtol=0)


def test_group_sum_sums_contiguous_groups_divided_by_tau():
    x = torch.arange(12.0).reshape(2, 6)
    out = GroupSum(3, tau=2.0)(x)
    assert torch.equal(out, torch.tensor([[0.5, 2.5, 4.5], [6.5, 8.5, 10.5]]))
    with pytest.raises(ValueError):
        GroupSum(4)(x)


def test_thermometer_encoder_matches_model_file_encoder():
    data = load_dataset("digits", seed=0)
    enc = ThermometerEncoder(5).fit(data.train_features)
    assert enc.thresholds.dtype == np.float32 and enc.thresholds.shape == (64, 5)
    features = np.concatenate([data.test_features,
                               np.tile(enc.thresholds[:, 2], (3, 1)),  # exactly on a threshold
                               np.full((1, 64), -1.0), np.full((1, 64), 99.0)]).astype(np.float32)
    bits = enc.encode(features)
    assert bits.dtype == np.uint8 and bits.shape == (len(features), 320)
    assert np.array_equal(bits, Encoder(enc.thresholds).encode(features))
    f, t = 10, 3  # bit f*T + t is set exactly when feature f > threshold[f, t]
    assert np.array_equal(bits[:, f * 5 + t],
                          (features[:, f] > enc.thresholds[f, t]).astype(np.uint8))
    assert bits[-2].sum() == 0 and bits[-1].sum() == 320
    assert np.all(bits[len(data.test_features), 2::5] == 0)  # equal is not greater


def test_quantile_encoder_splits_each_feature_evenly_and_matches_model_file_encoder():
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(4000, 3)) * [1.0, 50.0, 0.01] + [0, 100, -5]).astype(np.float32)
    enc = ThermometerEncoder(3, method="quantile").fit(features)
    bits = enc.encode(features)
    assert np.array_equal(bits, Encoder(enc.thresholds).encode(features))
    share = bits.reshape(4000, 3, 3).mean(axis=0)  # [feature, threshold]: share above it
    np.testing.assert_allclose(share, np.tile([0.75, 0.5, 0.25], (3, 1)), atol=0.01)
    uniform = ThermometerEncoder(3).fit(features).encode(features).reshape(4000, 3, 3)
    assert np.abs(uniform.mean(axis=0) - share).max() > 0.2  # one scale for all: uneven
    assert enc.config()["method"] == "quantile"
    with pytest.raises(LgnError, match="unknown encoder method"):
        ThermometerEncoder(3, method="median")


def test_digits_split_is_stratified_fixed_and_unknown_dataset_is_a_clear_error():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=0)
    assert np.array_equal(a.test_features, b.test_features)
    assert len(a.train_labels) + len(a.test_labels) == 1797
    assert 0.18 < len(a.test_labels) / 1797 < 0.22
    assert np.bincount(a.test_labels).min() >= 30  # every class well represented
    assert not np.array_equal(load_dataset("digits", seed=1).test_labels, a.test_labels)
    with pytest.raises(LgnError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def tiny_trained(seed: int, steps: int = 15):
    data = load_dataset("digits", seed=seed)
    enc = ThermometerEncoder(2).fit(data.train_features)
    net = LogicNet(enc.num_bits, [120, 60], 10, tau=3.0, seed=seed)
    metrics = train(net, enc.encode(data.train_features), data.train_labels,
                    enc.encode(data.test_features), data.test_labels, steps=steps, lr=0.05,
                    batch_size=64, seed=seed, device="cpu", progress=False, log=lambda s: None)
    return net, enc, data, metrics


def test_export_round_trip_gives_identical_discrete_scores(tmp_path):
    net, enc, data, metrics = tiny_trained(seed=0)
    assert 0.0 <= metrics["test_discrete"] <= 1.0 and metrics["steps"] == 15
    accuracy = {k: metrics[k] for k in ("train_soft", "test_soft", "test_discrete")}
    meta = {"dataset": "digits", "seed": 0, "accuracy": accuracy}
    path = tmp_path / "model.pt"
    save_model(path, model_to_dict(net, enc, meta))
    model = load_model(path)
    assert model.config["layers"][0] == {"type": "logic", "in_dim": 128, "out_dim": 120,
                                         "arity": 2, "parametrization": "softmax16",
                                         "connections": "random", "init": "residual",
                                         "init_strength": 5.0, "sampling": "soft",
                                         "gumbel_tau": 1.0}
    assert model.meta["created_by"] == "lgn-train 0.1.0" and model.name == "digits_lgn"
    assert torch.equal(model.state_dict["layers.1.indices"], net.layers[1].indices)
    assert np.array_equal(model.encoder.thresholds, enc.thresholds)
    for stored, (operands, tables) in zip(model.layers, net.discretize()):
        assert np.array_equal(stored.operands, operands.numpy())
        assert np.array_equal(stored.tables, tables.numpy())

    bits = np.concatenate([enc.encode(data.test_features),
                           random_input_bits(1, 200, model.num_inputs)])
    expected = net.discrete_scores(bits)
    assert expected.dtype == np.int64 and expected.shape == (len(bits), 10)
    rebuilt = model_from_file(model)
    assert np.array_equal(rebuilt.discrete_scores(bits), expected)
    assert np.array_equal(model_from_file(path).discrete_scores(bits), expected)
    assert np.array_equal(evaluate.scores(ir.from_model(model), bits), expected)
    # eval-mode forward is the discrete popcount / tau
    scores = net.eval()(torch.from_numpy(bits).float())
    torch.testing.assert_close(scores, torch.from_numpy(expected).float() / 3.0)


@pytest.mark.parametrize("arity", [2, 3])
def test_model_from_file_reproduces_any_model_file(tmp_path, arity):
    path = tmp_path / "random.pt"
    save_model(path, random_model_dict(seed=arity, num_inputs=17, layer_sizes=(30, 25, 20),
                                       num_classes=5, arity=arity))
    model = load_model(path)
    bits = random_input_bits(9, 300, model.num_inputs)
    assert np.array_equal(model_from_file(model).discrete_scores(bits),
                          evaluate.scores(ir.from_model(model), bits))


def test_same_seed_gives_identical_saved_tables(tmp_path):
    tables = []
    for run in range(2):
        net, enc, _, _ = tiny_trained(seed=4, steps=8)
        save_model(tmp_path / f"m{run}.pt", model_to_dict(net, enc, {"dataset": "digits"}))
        tables.append(load_model(tmp_path / f"m{run}.pt").layers)
    for a, b in zip(*tables):
        assert np.array_equal(a.tables, b.tables) and np.array_equal(a.operands, b.operands)
    other, _, _, _ = tiny_trained(seed=5, steps=8)
    assert not all(np.array_equal(a.operands, o.numpy())
                   for a, (o, _) in zip(tables[0], other.discretize()))


def test_cli_trains_and_saves_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "sub" / "m.pt"
    code = train_main(["--dataset", "digits", "--layers", "60,40", "--epochs", "1",
                       "--thresholds", "2", "--tau", "2", "-q", "-o", str(out)])
    assert code == 0
    model = load_model(out)
    assert model.num_gates == 100 and model.num_inputs == 128
    assert set(model.meta["accuracy"]) >= {"train_soft", "test_soft", "test_discrete"}
    assert model.meta["dataset"] == "digits" and model.meta["seed"] == 0
    assert "discrete" in capsys.readouterr().out


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from lgn_train.cli import main; sys.exit(main())",
                           *map(str, args)], capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, stderr, fragment):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lgn-train: error:"), stderr
    assert fragment in lines[0] and "Traceback" not in stderr


def test_cli_bad_flag_exits_2_with_one_line(tmp_path):
    assert_one_line_error(*run_cli("--bogus", "-o", tmp_path / "m.pt")[::2], "--bogus")


def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    cases = [
        (["-o", str(blocker / "m.pt")], "cannot write"),
        (["-o", str(tmp_path)], "is a directory"),
        (["--dataset", "nope", "-o", str(tmp_path / "m.pt")], "unknown dataset"),
        (["--layers", "10,x", "-o", str(tmp_path / "m.pt")], "--layers"),
        (["--layers", "15", "-o", str(tmp_path / "m.pt")], "divide"),
        (["--tau", "0", "-o", str(tmp_path / "m.pt")], "--tau"),
    ]
    for argv, fragment in cases:
        capsys.readouterr()
        code = train_main(argv)
        assert_one_line_error(code, capsys.readouterr().err, fragment)
    assert not (tmp_path / "m.pt").exists()


def test_cli_help_explains_options():
    code, out, _ = run_cli("--help")
    assert code == 0
    for flag in ("--dataset", "--layers", "--tau", "--lr", "--epochs", "--batch-size",
                 "--thresholds", "--device", "--debug", "--seed", "--output"):
        assert flag in out
