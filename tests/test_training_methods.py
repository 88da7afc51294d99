"""The training methods of lgn_train: IWP vs softmax16, residual init, Gumbel + straight-through
sampling, unique wiring, and discrete eval == compiled IR for every parametrization and arity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from lgn_compile import evaluate, ir
from lgn_compile.model_file import load_model, save_model
from lgn_train import LogicLayer, LogicNet, model_to_dict, train
from lgn_train.layers import unique_connections
from lgn_train.parametrizations import OP_TABLES, SAMPLINGS

# (parametrization, activation, arity) for every supported combination
PARAMETRIZATIONS = ([("softmax16", "sin", 2)]
                    + [("iwp", act, k) for act in ("sin", "sigmoid") for k in range(2, 7)])


def ids(case):
    return f"{case[0]}-{case[1]}-k{case[2]}" if case[0] == "iwp" else case[0]


@pytest.mark.parametrize("activation", ["sin", "sigmoid"])
def test_iwp_k2_and_softmax16_with_matching_weights_agree(activation):
    """An IWP neuron whose weights are the softmax16 neuron's expected truth table computes
    the same relaxed function, and (for a clear winner, p > 0.5) the same discrete gate."""
    gen = torch.Generator().manual_seed(0)
    soft = LogicLayer(12, 64, "softmax16", init="uniform", seed=1)
    with torch.no_grad():
        soft.logits.copy_(torch.randn(64, 16, generator=gen) * 0.5)
        winner = torch.randint(0, 16, (64,), generator=gen)
        soft.logits[torch.arange(64), winner] += 5.0  # p(winner) > 0.5 for every neuron
    assert (torch.softmax(soft.logits, -1).max(-1).values > 0.5).all()
    iwp = LogicLayer(12, 64, "iwp", arity=2, activation=activation, init="uniform", seed=1)
    iwp.set_truth_table_weights(soft.truth_table_weights().detach())

    torch.testing.assert_close(iwp.truth_table_weights(), soft.truth_table_weights(),
                               atol=1e-5, rtol=0)
    x = torch.rand(50, 12, generator=gen)
    torch.testing.assert_close(iwp.forward_relaxed(x), soft.forward_relaxed(x), atol=1e-5, rtol=0)
    assert torch.equal(iwp.discrete_tables(), soft.discrete_tables())
    assert torch.equal(soft.discrete_tables(), OP_TABLES.to(torch.uint8)[winner])  # not vacuous


@pytest.mark.parametrize("case", PARAMETRIZATIONS, ids=ids)
def test_residual_init_net_passes_operand_0_through_at_step_0(case):
    parametrization, activation, arity = case
    net = LogicNet(40, [60, 50, 30], 3, seed=2, parametrization=parametrization,
                   activation=activation, arity=arity, init="residual")
    bits = torch.randint(0, 2, (64, 40), generator=torch.Generator().manual_seed(3))
    expected = bits
    for layer in net.layers:  # follow operand 0 of every gate back to the inputs
        expected = expected[:, layer.indices[0]]
    assert torch.equal(net.discrete_outputs(bits).long(), expected.long())
    # The relaxed net is close to pass-through too: every relaxed output is on its bit's side.
    x = bits.float()
    for layer in net.layers:
        x = layer.forward_relaxed(x)
    assert torch.equal((x > 0.5).long(), expected.long())
    # ... and a uniform init is not pass-through.
    uniform = LogicNet(40, [60, 50, 30], 3, seed=2, parametrization=parametrization,
                       activation=activation, arity=arity, init="uniform")
    assert not torch.equal(uniform.discrete_outputs(bits).long(), expected.long())


@pytest.mark.parametrize("case", [("softmax16", "sin", 2), ("iwp", "sin", 3),
                                  ("iwp", "sigmoid", 2)], ids=ids)
def test_residual_init_strength_sets_how_strongly_pass_through_is_favoured(case):
    parametrization, activation, arity = case
    target = (torch.arange(1 << arity) & 1).float()

    def distance(strength):
        layer = LogicLayer(10, 200, parametrization, arity=arity, activation=activation,
                           init="residual", init_strength=strength)
        return (layer.truth_table_weights() - target).abs().mean().item()

    weak, strong = distance(0.3), distance(1.4)
    assert weak > strong and 0.0 < strong < 0.5 and weak < 0.5
    assert LogicLayer(10, 5, parametrization, arity=arity, activation=activation).init_strength > 0


def toy_task(num_inputs=16, n=256, seed=0):
    """Class 1 when at least half of the first 8 input bits are set."""
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, num_inputs), generator=gen).float()
    labels = (bits[:, :8].sum(1) >= 4).long()
    return bits, labels


@pytest.mark.parametrize("case", [("softmax16", "sin", 2), ("iwp", "sin", 2),
                                  ("iwp", "sigmoid", 4)], ids=ids)
def test_gumbel_straight_through_forward_is_hard_and_loss_decreases(case):
    parametrization, activation, arity = case
    torch.manual_seed(0)
    net = LogicNet(16, [64, 32], 2, tau=2.0, seed=1, parametrization=parametrization,
                   activation=activation, arity=arity, init="uniform", sampling="gumbel")
    bits, labels = toy_task()
    # forward: one hard sample per neuron, shared by the batch (identical rows agree)
    layer = net.layers[0]
    same = bits[:1].repeat(8, 1)
    out = layer(same)
    assert set(out.unique().tolist()) <= {0.0, 1.0} and (out == out[0]).all()
    samples = torch.stack([layer(bits) for _ in range(4)])
    assert not all(torch.equal(samples[0], s) for s in samples[1:])  # a new sample per call
    # backward: the soft gradient reaches every layer's parameters
    loss = torch.nn.functional.cross_entropy(net(bits), labels)
    loss.backward()
    assert all(l.logits.grad is not None and l.logits.grad.abs().sum() > 0 for l in net.layers)
    net.zero_grad()

    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    losses = []
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(net(bits), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20]), (losses[:5], losses[-5:])
    # evaluation is always discrete, never a sample: eval-mode output is deterministic
    net.eval()
    assert (net(bits).argmax(1) == labels).float().mean() > 0.8  # the majority class is 64%
    assert torch.equal(net(bits), net(bits))
    assert torch.equal(net(bits), torch.from_numpy(net.discrete_scores(bits.numpy())).float() / 2.0)


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("case", PARAMETRIZATIONS, ids=ids)
def test_discrete_eval_equals_the_compiled_ir(tmp_path, case, sampling):
    """Train a few steps, save, load, build the IR: the IR's scores are the net's."""
    parametrization, activation, arity = case
    bits, labels = toy_task(num_inputs=24, n=300, seed=arity)
    net = LogicNet(24, [48, 36, 30], 3, tau=2.0, seed=arity, parametrization=parametrization,
                   activation=activation, arity=arity, init="uniform", sampling=sampling,
                   connections="unique" if arity % 2 else "random")
    train(net, bits, labels % 3, steps=6, batch_size=64, lr=0.1, seed=0, device="cpu",
          progress=False, log=lambda line: None)
    path = tmp_path / "m.pt"
    save_model(path, model_to_dict(net, None, {"dataset": "toy"}))
    model = load_model(path)
    layer_cfg = model.config["layers"][0]
    assert (layer_cfg["parametrization"], layer_cfg["arity"], layer_cfg["sampling"]) == (
        parametrization, arity, sampling)
    probe = np.concatenate([bits.numpy().astype(np.uint8),
                            np.random.default_rng(arity).integers(0, 2, (200, 24), np.uint8)])
    expected = net.discrete_scores(probe)
    assert np.array_equal(evaluate.scores(ir.from_model(model), probe), expected)
    scores = net.eval()(torch.from_numpy(probe).float())
    torch.testing.assert_close(scores, torch.from_numpy(expected).float() / 2.0)
    # the net really uses k-input gates: some gate depends on all its operands
    tables = model.layers[0].table_ints()
    assert len(set(tables)) > 1


@pytest.mark.parametrize("connections", ["random", "learnable"])
@pytest.mark.parametrize("case", PARAMETRIZATIONS, ids=ids)
def test_hard_sampling_trains_exactly_the_discrete_net(case, connections):
    """`sampling="hard"`: the train-mode forward is the eval (discrete) net's scores, not
    the relaxed net's, and the gradient still reaches every gate's and wire's logits; a
    soft net of the same parameters scores otherwise (so the check can fail)."""
    parametrization, activation, arity = case
    bits, labels = toy_task(num_inputs=24, n=200, seed=arity)
    nets = {sampling: LogicNet(24, [40, 30], 3, tau=2.0, seed=arity,
                               parametrization=parametrization, activation=activation,
                               arity=arity, init="uniform", sampling=sampling,
                               connections=connections, candidates=8, candidate_group=4)
            for sampling in ("soft", "hard")}
    net = nets["hard"]
    train_scores = net.train()(bits)
    torch.testing.assert_close(train_scores, net.eval()(bits), rtol=0, atol=1e-6)
    assert not torch.allclose(nets["soft"].train()(bits), train_scores)
    torch.nn.functional.cross_entropy(net.train()(bits), labels % 3).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("in_dim,out_dim,arity", [(30, 20, 2), (100, 60, 2), (50, 40, 3),
                                                  (6, 15, 2), (12, 10, 6), (5, 12, 2)])
def test_unique_connections_use_every_input_with_distinct_operands(in_dim, out_dim, arity):
    wiring = unique_connections(in_dim, out_dim, arity, seed=4)
    assert wiring.dtype == torch.int64 and tuple(wiring.shape) == (arity, out_dim)
    assert set(wiring.flatten().tolist()) == set(range(in_dim))
    counts = np.bincount(wiring.flatten().numpy(), minlength=in_dim)
    assert counts.max() - counts.min() <= 1  # balanced use
    rows = [tuple(sorted(col)) for col in wiring.t().tolist()]
    assert all(len(set(row)) == arity for row in rows)
    if math.comb(in_dim, arity) >= 2 * out_dim:
        assert len(set(rows)) == out_dim
    assert torch.equal(wiring, unique_connections(in_dim, out_dim, arity, seed=4))
    assert not torch.equal(wiring, unique_connections(in_dim, out_dim, arity, seed=5))


def test_unique_connections_refuse_what_cannot_use_every_input():
    with pytest.raises(ValueError, match="arity\\*out_dim >= in_dim"):
        unique_connections(50, 20, 2, seed=0)
    with pytest.raises(ValueError, match="at least 3 inputs"):
        unique_connections(2, 20, 3, seed=0)
    layer = LogicLayer(30, 20, connections="unique", seed=5)
    assert "connections='unique'" in repr(layer)
    random_rows = [tuple(sorted(c)) for c in LogicLayer(30, 200, seed=5).indices.t().tolist()]
    assert any(len(set(r)) < 2 for r in random_rows) or len(set(random_rows)) < 200  # not unique


def test_gate_utilization_counts_non_constant_gates_that_reach_an_output():
    net = LogicNet(4, [4, 2], 1, parametrization="iwp", arity=2, init="uniform")
    a_table, false_table, b_table = [0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]
    net.layers[0].set_tables([a_table, false_table, a_table, a_table],
                             operands=[[0, 1], [1, 2], [2, 3], [3, 0]])
    # gate 0 reads gate 0 (operand 0, used) and gate 2 (operand 1, ignored by table A);
    # gate 1 reads gate 1 (constant) and gate 3 through operand 1 (table B)
    net.layers[1].set_tables([a_table, b_table], operands=[[0, 2], [1, 3]])
    # live: layer 1 both (2), layer 0: gate 0 and gate 3 (gate 1 constant, gate 2 ignored)
    assert net.gate_utilization() == pytest.approx(4 / 6)
    net.layers[1].set_tables([false_table, b_table], operands=[[0, 2], [1, 3]])
    assert net.gate_utilization() == pytest.approx(2 / 6)


def test_every_combination_builds_and_rejects_bad_options():
    for parametrization, sampling, connections in itertools.product(
            ("softmax16", "iwp"), SAMPLINGS, ("random", "unique")):
        layer = LogicLayer(10, 8, parametrization, connections=connections, sampling=sampling)
        assert layer(torch.rand(3, 10)).shape == (3, 8)
    for bad in ({"arity": 3}, {"sampling": "warm"}, {"gumbel_tau": 0.0}, {"init": "zeros"},
                {"parametrization": "iwp", "activation": "tanh"},
                {"parametrization": "iwp", "arity": 7}):
        with pytest.raises(ValueError):
            LogicLayer(10, 8, **bad)
