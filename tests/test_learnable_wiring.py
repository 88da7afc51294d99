"""Learnable wiring (issue 16): each operand picks its input among candidates by a learned
softmax. Checked against independent references: the exported operands are each operand's
argmax candidate, the compiled circuit (IR, emitted Python, emitted C) computes the torch
discrete forward for every parametrization/arity (dense and conv), the relaxed forward is
the candidates' mixture (or the straight-through pick), gradients reach the logits, and
on digits learned wiring beats random wiring at the same gate count and seed."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lgn_compile import evaluate, ir
from lgn_compile.compiler import compile_model
from lgn_compile.model_file import load_model, save_model
from lgn_compile.passes import PRESETS
from lgn_compile.verify import c_library, python_module_scores
from lgn_train import LogicLayer, LogicNet, model_to_dict, net_from_config, train
from lgn_train.cli import main as train_main
from lgn_train.conv import ConvLogicNet, LogicConv2d, parse_conv_spec
from lgn_train.data import ThermometerEncoder, load_dataset
from lgn_train.layers import param_groups

# (parametrization, activation, arity): every supported gate kind
GATE_KINDS = ([("softmax16", "sin", 2)]
              + [("iwp", "sin", k) for k in range(2, 7)] + [("iwp", "sigmoid", 3)])
# (candidates, candidate_group, connection_relax, sampling)
WIRINGS = [(0, 32, "hard", "soft"), (5, 4, "hard", "soft"), (7, 3, "soft", "soft"),
           (5, 8, "hard", "gumbel")]


def kind_id(case):
    return "-".join(map(str, case))


def reference_wiring(layer: LogicLayer) -> torch.Tensor:
    """[arity, out]: operand i of gate g reads candidate argmax_c logits[i, b, j, c] of its
    block b = g // group (slot j = g % group), written as plain loops."""
    arity, blocks, group, size = layer.connection_logits.shape
    wiring = torch.empty(arity, layer.out_dim, dtype=torch.int64)
    for i in range(arity):
        for g in range(layer.out_dim):
            b, j = divmod(g, group)
            wiring[i, g] = layer.candidate_index[i, b, layer.connection_logits[i, b, j].argmax()]
    return wiring


def reference_mixture(layer: LogicLayer, x: torch.Tensor) -> list[torch.Tensor]:
    """Each operand as the softmax-weighted sum of its candidates, gathered per gate."""
    arity, blocks, group, size = layer.connection_logits.shape
    probs = torch.softmax(layer.connection_logits, dim=-1)
    gate = torch.arange(layer.out_dim)
    operands = []
    for i in range(arity):
        cand = layer.candidate_index[i, gate // group]  # [out, size]
        weight = probs[i, gate // group, gate % group]  # [out, size]
        operands.append((x[:, cand] * weight).sum(-1))
    return operands


def toy_task(num_inputs, n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, num_inputs), generator=gen)
    return bits.float(), (bits[:, 0] + 2 * bits[:, 3] + bits[:, -1]) % 3


def trained(net, num_inputs, steps=8, seed=0):
    bits, labels = toy_task(num_inputs, seed=seed)
    train(net, bits, labels, steps=steps, batch_size=64, lr=0.2, seed=seed, device="cpu",
          progress=False, log=lambda line: None)
    return net


def saved(tmp_path, net, name="m.pt"):
    save_model(tmp_path / name, model_to_dict(net, None, {"dataset": "toy"}))
    return load_model(tmp_path / name)


def dense_net(case, wiring, seed=0):
    parametrization, activation, arity = case
    candidates, group, relax, sampling = wiring
    return LogicNet(24, [40, 30], 3, tau=2.0, seed=seed, parametrization=parametrization,
                    activation=activation, arity=arity, sampling=sampling, init="residual",
                    connections="learnable", candidates=candidates, candidate_group=group,
                    connection_relax=relax)


# every gate kind with two of the wirings, every wiring with several gate kinds
KIND_WIRINGS = [(kind, WIRINGS[(i + shift) % len(WIRINGS)])
                for i, kind in enumerate(GATE_KINDS) for shift in (0, 1)]


@pytest.mark.parametrize("case,wiring", KIND_WIRINGS, ids=kind_id)
def test_learnable_wiring_exports_its_argmax_and_compiles_to_the_discrete_forward(
        tmp_path, case, wiring):
    net = dense_net(case, wiring)
    start = [layer.wiring().clone() for layer in net.layers]
    trained(net, 24)
    model = saved(tmp_path, net)
    for layer, stored, before in zip(net.layers, model.layers, start):
        assert torch.equal(torch.from_numpy(stored.operands).t(), reference_wiring(layer))
        assert model.config["layers"][0]["connections"] == "learnable"
    assert any(not torch.equal(layer.wiring(), s) for layer, s in zip(net.layers, start))
    probe = np.concatenate([toy_task(24, seed=1)[0].numpy().astype(np.uint8),
                            np.random.default_rng(case[2]).integers(0, 2, (100, 24), np.uint8)])
    expected = net.discrete_scores(probe)
    assert np.array_equal(evaluate.scores(ir.from_model(model), probe), expected)
    files, _ = compile_model(model, ["python"], PRESETS[2])
    (tmp_path / f"{model.name}.py").write_text(files[f"{model.name}.py"])
    assert np.array_equal(python_module_scores(tmp_path / f"{model.name}.py", probe), expected)
    # eval mode is the discrete net; a rebuilt net (resume) has the same wiring and gates
    torch.testing.assert_close(net.eval()(torch.from_numpy(probe).float()),
                               torch.from_numpy(expected).float() / 2.0)
    rebuilt = net_from_config(model.config, model.state_dict)
    assert np.array_equal(rebuilt.discrete_scores(probe), expected)


def conv_net(case, relax="hard", sampling="soft", channels_per_tree=2, geometry=(3, 1, 1)):
    parametrization, activation, arity = case
    kernel, stride, padding = geometry
    spec = parse_conv_spec(f"c4k{kernel}s{stride}p{padding}d2g{channels_per_tree},pool2s1")
    return ConvLogicNet.build((1, 7, 7), 3, spec, [24], 3, tau=2.0, seed=1,
                              parametrization=parametrization, activation=activation,
                              arity=arity, sampling=sampling, connections="learnable",
                              candidates=5, candidate_group=4, connection_relax=relax)


@pytest.mark.parametrize("variant", [("hard", "soft", 2, (3, 1, 1)), ("soft", "soft", 2, (3, 2, 1)),
                                     ("hard", "gumbel", 3, (2, 1, 1)), ("hard", "soft", 1, (3, 1, 0))],
                         ids=kind_id)
@pytest.mark.parametrize("case", [GATE_KINDS[0], GATE_KINDS[1], GATE_KINDS[2]], ids=kind_id)
def test_learnable_conv_leaves_stay_in_the_window_and_compile_to_the_discrete_forward(
        tmp_path, case, variant):
    relax, sampling, per_tree, geometry = variant
    net = conv_net(case, relax, sampling, per_tree, geometry)
    conv = net.layers[0]
    level = conv.levels[0]
    window = per_tree * geometry[0] ** 2
    assert level.learnable and level.connection_logits.shape[3] == min(window, level.in_dim)
    start = level.wiring().clone()
    trained(net, net.num_inputs, steps=10)
    model = saved(tmp_path, net)
    assert model.config["arch"]["blocks"][0]["connections"] == "learnable"
    assert not torch.equal(level.wiring(), start)  # the leaves moved
    # every leaf is in its tree's window: the channels of the tree's candidates
    k2 = geometry[0] ** 2
    leaves = level.wiring().t().reshape(conv.out_channels, -1)
    cands = level.candidate_index[0].reshape(-1)
    if level.candidate_index.shape[1] > 1:  # per-gate windows
        per_gate = level.candidate_index[0]
        tree_windows = per_gate.reshape(conv.out_channels, -1, per_gate.shape[-1])[:, 0]
        for tree, leaf_row in enumerate(leaves):
            assert set(leaf_row.tolist()) <= set(tree_windows[tree].tolist())
            assert len({c // k2 for c in tree_windows[tree].tolist()}) == per_tree
    else:
        assert set(cands.tolist()) == set(range(level.in_dim))
    probe = torch.randint(0, 2, (150, net.num_inputs),
                          generator=torch.Generator().manual_seed(3)).numpy().astype(np.uint8)
    expected = net.discrete_scores(probe)
    assert np.array_equal(evaluate.scores(ir.from_model(model), probe), expected)
    rebuilt = net_from_config(model.config, model.state_dict)
    assert np.array_equal(rebuilt.discrete_scores(probe), expected)


def test_emitted_c_computes_learnable_dense_and_conv_nets(tmp_path):
    for name, net in (("dense", trained(dense_net(GATE_KINDS[3], WIRINGS[1]), 24)),
                      ("conv", trained(conv_net(GATE_KINDS[2]), 147))):
        model = saved(tmp_path, net, f"{name}.pt")
        out = tmp_path / name
        out.mkdir()
        files, _ = compile_model(model, ["c"], PRESETS[2])
        for file_name, text in files.items():
            (out / file_name).write_text(text)
        probe = torch.randint(0, 2, (300, net.num_inputs),
                              generator=torch.Generator().manual_seed(4)).numpy().astype(np.uint8)
        assert np.array_equal(c_library(out / f"{model.name}.c", model, out).scores(probe),
                              net.discrete_scores(probe))


@pytest.mark.parametrize("case", [GATE_KINDS[0], GATE_KINDS[3]], ids=kind_id)
def test_relaxed_operands_are_the_mixture_or_the_straight_through_pick(case):
    parametrization, activation, arity = case
    x = torch.rand(9, 30, generator=torch.Generator().manual_seed(0))
    for candidates, group in ((0, 1), (6, 4), (6, 50)):
        soft = LogicLayer(30, 20, parametrization, "learnable", seed=2, arity=arity,
                          activation=activation, candidates=candidates, candidate_group=group,
                          connection_relax="soft")
        with torch.no_grad():
            soft.connection_logits.normal_(0, 2)
        for got, want in zip(soft._mixed_operands(x, False), reference_mixture(soft, x)):
            torch.testing.assert_close(got, want)
        hard = LogicLayer(30, 20, parametrization, "learnable", seed=2, arity=arity,
                          activation=activation, candidates=candidates, candidate_group=group)
        hard.load_state_dict(soft.state_dict())
        for got, i in zip(hard._mixed_operands(x, False), range(arity)):
            torch.testing.assert_close(got, x[:, reference_wiring(hard)[i]], rtol=0, atol=0)
        picked = hard._mixed_operands(x, True)  # Gumbel picks: one candidate each
        for got in picked:
            assert all(any(torch.equal(got[:, g], x[:, c]) for c in range(30))
                       for g in range(20))


@pytest.mark.parametrize("candidates,group", [(0, 1), (6, 4), (6, 50)])
def test_the_straight_through_pick_has_the_gradient_of_the_one_hot_product(candidates, group):
    """StraightThroughPick (a gather forward) against autograd through the product it
    replaces, `candidates @ straight_through(hard, softmax)`: value, and the gradients of
    the logits and of the inputs (the layer below), for a loss that weighs every operand."""
    x = torch.rand(9, 30, generator=torch.Generator().manual_seed(0))
    layer = LogicLayer(30, 20, "iwp", "learnable", seed=2, arity=3, candidates=candidates,
                       candidate_group=group)
    with torch.no_grad():
        layer.connection_logits.normal_(0, 2)
    weigh = torch.randn(3, 9, 20, generator=torch.Generator().manual_seed(1))
    grads = []
    for fast in (True, False):
        layer.connection_logits.grad = None
        inputs = x.clone().requires_grad_()
        if fast:
            operands = layer._mixed_operands(inputs, False)
        else:  # the reference: the one-hot weights' product, per operand and gate
            weights = layer.connection_weights()  # straight_through(hard, soft)
            arity, blocks, g, size = weights.shape
            gate = torch.arange(20)
            operands = [(inputs[:, layer.candidate_index[i, gate // g]]
                         * weights[i, gate // g, gate % g]).sum(-1) for i in range(arity)]
        loss = sum((op * w).sum() for op, w in zip(operands, weigh))
        loss.backward()
        grads.append((torch.stack(operands), layer.connection_logits.grad.clone(), inputs.grad))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)
    assert grads[0][1].abs().sum() > 0 and grads[0][2].abs().sum() > 0


@pytest.mark.parametrize("relax,sampling", [("hard", "soft"), ("soft", "soft"),
                                            ("hard", "gumbel")])
def test_gradients_reach_the_connection_logits_dense_and_conv(relax, sampling):
    dense = dense_net(GATE_KINDS[1], (6, 4, relax, sampling))
    conv = conv_net(GATE_KINDS[0], relax, sampling)
    for net in (dense, conv):
        bits, labels = toy_task(net.num_inputs)
        net.train()
        F.cross_entropy(net(bits), labels).backward()
        learnable = [m for m in net.modules() if isinstance(m, LogicLayer) and m.learnable]
        assert learnable
        for layer in learnable:
            grad = layer.connection_logits.grad
            assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    groups = param_groups(dense, 0.1, 0.01)
    assert [g["lr"] for g in groups] == [0.1, 0.01]
    assert sum(len(g["params"]) for g in groups) == len(list(dense.parameters()))
    assert len(param_groups(LogicNet(8, [6], 3), 0.1, 0.01)) == 1


def test_learnable_options_are_checked():
    for options, fragment in (({"candidates": -1}, "candidates"),
                              ({"candidate_group": 0}, "candidate_group"),
                              ({"connection_relax": "nope"}, "connection_relax")):
        with pytest.raises(ValueError, match=fragment):
            LogicLayer(10, 8, connections="learnable", **options)
    layer = LogicLayer(10, 8, connections="learnable")
    with pytest.raises(ValueError, match="learnable"):
        layer.set_tables(np.zeros((8, 4), np.uint8), np.zeros((8, 2), np.int64))
    with pytest.raises(ValueError, match="random or learnable"):
        LogicConv2d(2, 2, connections="unique")


def test_cli_learnable_wiring_trains_checkpoints_resumes_and_checks_flags(tmp_path, capsys):
    out, ckpt = tmp_path / "m.pt", tmp_path / "ck.pt"
    base = ["--dataset", "digits", "--layers", "60,40", "--thresholds", "2", "--tau", "2",
            "-q", "--connections", "learnable", "--candidates", "0,8", "--connection-lr", "0.1"]
    assert train_main([*base, "--epochs", "1", "--checkpoint", str(ckpt), "-o", str(out)]) == 0
    assert train_main(["--resume", str(ckpt), "--epochs", "2", "-o", str(out)]) == 0
    model = load_model(out)
    assert model.meta["training"]["connections"] == "learnable"
    assert model.meta["training"]["candidates"] == "0,8" and model.meta["training"]["epochs"] == 2
    net = net_from_config(model.config, model.state_dict)
    # per layer: the first picks among all 128 input bits, the second among 8 of its 60
    assert [layer.connection_logits.shape[-1] for layer in net.layers] == [128, 8]
    for layer, file_layer in zip(net.layers, model.layers):
        assert torch.equal(torch.from_numpy(file_layer.operands).t(), reference_wiring(layer))
    for flag, value in (("--candidates", "-1"), ("--candidates", "0,8,8"),
                        ("--candidates", "8,x"), ("--candidate-group", "0"),
                        ("--connection-lr", "0")):
        capsys.readouterr()
        assert train_main([*base, flag, value, "-o", str(tmp_path / "x.pt")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag in err[0]


def digits_accuracy(connections: str) -> float:
    """A 200-gate, one-layer net on digits (3 thresholds, 6 epochs, seed 0)."""
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    encoder = ThermometerEncoder(3).fit(data.train_features)
    net = LogicNet(encoder.num_bits, [200], 10, tau=5.0, seed=0, connections=connections,
                   candidates=0)
    metrics = train(net, encoder.encode(data.train_features), data.train_labels,
                    encoder.encode(data.test_features), data.test_labels, epochs=6, lr=0.05,
                    seed=0, device="cpu", eval_every=6, progress=False, log=lambda line: None)
    return metrics["test_discrete"]


def test_learned_wiring_beats_random_wiring_on_digits_at_the_same_gate_count():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    try:
        learned, random = digits_accuracy("learnable"), digits_accuracy("random")
    finally:
        torch.set_num_threads(threads)
    assert learned > random + 0.05, (learned, random)


@pytest.mark.parametrize("geometry", [(3, 1, 1), (3, 2, 1), (2, 1, 0)], ids=kind_id)
def test_relaxed_conv_leaves_are_the_window_mixture_or_the_straight_through_pick(geometry):
    """Reference: F.unfold's receptive fields, each leaf the softmax-weighted sum of its
    candidates (soft) or exactly the argmax candidate (hard)."""
    kernel, stride, padding = geometry
    x = torch.rand(5, 3, 7, 7, generator=torch.Generator().manual_seed(1))
    for relax in ("soft", "hard"):
        net = conv_net(GATE_KINDS[0], relax, geometry=geometry)
        conv, level = net.layers[0], net.layers[0].levels[0]
        with torch.no_grad():
            level.connection_logits.normal_(0, 2)
        fields = F.unfold(x, kernel, padding=padding, stride=stride)  # [N, field, positions]
        probs = torch.softmax(level.connection_logits, -1)[:, :, 0]  # [arity, gates, size]
        for i, got in enumerate(conv._mixed_leaf_operands(x, False)):  # [N, positions, gates]
            cand = level.candidate_index[i]  # [gates, size]
            if relax == "soft":
                want = (fields[:, cand] * probs[i][None, :, :, None]).sum(2).transpose(1, 2)
                torch.testing.assert_close(got, want)
            else:
                want = fields[:, level.wiring()[i]].transpose(1, 2)
                torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
                torch.testing.assert_close(got, conv._leaf_operands(x)[i], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_torchrun_learns_the_same_wiring_as_one_process(train_with_torchrun_and_alone):
    """DDP (gloo, two CPU processes, half of each minibatch each) averages the connection
    logits' gradients too: the learned wiring is (up to float rounding) one process's."""
    run = ["--dataset", "digits", "--layers", "200,100", "--thresholds", "2", "--epochs", "3",
           "--threads", "1", "--device", "cpu", "--connections", "learnable", "-q"]
    _, ddp, one = train_with_torchrun_and_alone(run)
    same = sum((x.operands == y.operands).all(1).sum() for x, y in zip(ddp.layers, one.layers))
    assert same >= 0.95 * ddp.num_gates
