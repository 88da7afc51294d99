"""`lgn-train prune`: narrowing a trained head. The greedy step is checked against a brute
force (the cross-entropy recomputed with each bit removed), the narrowed net against the
original's kept bits (every gate kind, learnable and fixed wiring), and the command end to
end: the written model compiles to a circuit equal to its torch forward, and bad requests
are one-line errors that write nothing."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lgn_compile.evaluate import scores as ir_scores
from lgn_compile.model_file import load_model
from lgn_compile.passes import PRESETS, optimize_model
from lgn_train import LogicLayer, LogicNet, model_to_dict, net_from_config
from lgn_train.cli import main as train_main
from lgn_compile import ir
from lgn_compile.model_file import model_from_dict, save_model
from lgn_train.prune import (HELD_OUT_PATIENCE, SIGNAL_COST, Cones, HeldOut, head_cost,
                             head_outputs, logic_cones, marginal_costs, narrow_head,
                             same_columns, scaled_tau, select_head, swap_slots)


def cross_entropy(scores: np.ndarray, labels: np.ndarray, tau: float) -> float:
    z = scores / tau
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    return float((lse - z[np.arange(len(z)), labels]).sum())


@pytest.mark.parametrize("seed", range(4))
def test_each_round_removes_the_bit_whose_removal_costs_least(seed):
    """Reference: for every class, try every alive bit, recompute the whole cross-entropy
    at the round's tau, drop the cheapest; `select_head` must keep the same bits."""
    rng = np.random.default_rng(seed)
    samples, classes, group, keep, tau = 300, 3, 12, 3, 1.0
    labels = rng.integers(0, classes, samples)
    # bits that agree with the label with different strengths, so the choice matters
    strength = rng.uniform(0.05, 0.45, (classes, group))
    p = 0.5 + np.where(labels[:, None, None] == np.arange(classes)[None, :, None],
                       strength[None], -strength[None])
    outputs = (rng.random((samples, classes, group)) < p).astype(np.uint8)
    alive = np.ones((classes, group), bool)
    for kept in range(group, keep, -1):
        t = scaled_tau(tau, group, kept)
        for c in range(classes):
            scores = (outputs * alive[None]).sum(2).astype(np.float64)
            costs = {}
            for i in np.flatnonzero(alive[c]):
                trial = scores.copy()
                trial[:, c] -= outputs[:, c, i]
                costs[i] = cross_entropy(trial, labels, t)
            alive[c, min(costs, key=costs.get)] = False
    expected = np.stack([np.flatnonzero(row) for row in alive])
    assert np.array_equal(select_head(outputs, labels, keep, tau), expected)


def test_an_uninformative_bit_goes_before_an_informative_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    useful = (labels == 0).astype(np.uint8)
    noise = rng.integers(0, 2, (2000, 3)).astype(np.uint8)
    outputs = np.zeros((2000, 2, 4), np.uint8)
    outputs[:, 0, 0], outputs[:, 0, 1:] = useful, noise
    outputs[:, 1, 3], outputs[:, 1, :3] = 1 - useful, noise
    keep = select_head(outputs, labels, 1, 1.0)
    assert keep.tolist() == [[0], [3]]


def tiny_net(parametrization: str, arity: int, connections: str, seed: int = 0) -> LogicNet:
    options = {"candidates": 6, "candidate_group": 4} if connections == "learnable" else {}
    layers = [LogicLayer(40, 30, parametrization, connections, seed=seed, arity=arity,
                         init="uniform", **options),
              LogicLayer(30, 24, parametrization, connections, seed=seed + 1, arity=arity,
                         init="uniform", **options)]
    net = LogicNet.from_layers(40, layers, 3, tau=2.0)
    with torch.no_grad():  # scramble so that gates and picks differ from their init
        gen = torch.Generator().manual_seed(seed)
        for param in net.parameters():
            param.add_(torch.randn(param.shape, generator=gen) * 3)
    return net.eval()


@pytest.mark.parametrize("parametrization,arity", [("softmax16", 2), ("iwp", 2), ("iwp", 3),
                                                   ("iwp", 6)])
@pytest.mark.parametrize("connections", ["learnable", "random"])
def test_narrowed_net_computes_exactly_the_kept_bits(parametrization, arity, connections,
                                                     tmp_path):
    net = tiny_net(parametrization, arity, connections, seed=arity)
    bits = np.random.default_rng(1).integers(0, 2, (257, 40)).astype(np.float32)
    keep = np.array([[0, 5, 7], [1, 2, 6], [3, 4, 7]])
    narrowed = narrow_head(net, keep, tau=1.5).eval()
    full = head_outputs(net, bits)
    expected = np.stack([full[:, c, keep[c]] for c in range(3)], 1)
    assert np.array_equal(head_outputs(narrowed, bits), expected)
    assert narrowed.tau == 1.5 and narrowed.layer_sizes == [30, 9]
    # through the model file and the compiler: the circuit counts the kept bits
    path = tmp_path / "m.pt"
    save_model(path, model_to_dict(narrowed, None, {"dataset": "synthetic"}))
    model = load_model(path)
    rebuilt = net_from_config(model.config, model.state_dict).eval()
    assert np.array_equal(head_outputs(rebuilt, bits), expected)
    g, _ = optimize_model(model, PRESETS[2])
    assert np.array_equal(ir_scores(g, bits.astype(np.uint8)), expected.sum(2))


def slot_scores(outputs: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Class scores of a swapped head, counted directly: slot j < width is output bit j of
    the flattened last layer, j >= width its complement."""
    flat = outputs.reshape(len(outputs), -1).astype(np.int64)
    both = np.concatenate([flat, 1 - flat], axis=1)
    return np.stack([both[:, row].sum(1) for row in chosen], 1)


@pytest.mark.parametrize("seed", range(3))
def test_swapping_slots_lowers_the_training_loss_and_keeps_k_slots(seed):
    """Bits that separate two classes sit in a third class's group, and one class's bits
    are inverted: only slots that may hold other classes' bits and complements use them.
    The search's own account of the loss must match the loss recounted from its slots."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 3000)
    outputs = rng.integers(0, 2, (3000, 3, 6)).astype(np.uint8)
    noisy = lambda bit: np.where(rng.random(3000) < 0.15, 1 - bit, bit)
    outputs[:, 2, 0] = noisy(labels == 0)   # class 0's evidence in class 2's group
    outputs[:, 2, 1] = noisy(labels == 1)
    outputs[:, 0, 2] = noisy(labels != 0)  # inverted evidence for class 0
    keep = select_head(outputs, labels, 2, 1.0)
    chosen, stats = swap_slots(outputs, labels, keep, 0.5, rounds=20, per_round=2)
    assert chosen.shape == (3, 2) and chosen.min() >= 0 and chosen.max() < 2 * 18
    assert stats["swaps"] > 0 and stats["loss_after"] < stats["loss_before"]
    recounted = cross_entropy(slot_scores(outputs, chosen).astype(float), labels, 0.5) / 3000
    assert math.isclose(recounted, stats["loss_after"], rel_tol=1e-4)
    start = cross_entropy(np.stack([outputs[:, c, keep[c]].sum(1) for c in range(3)], 1)
                          .astype(float), labels, 0.5) / 3000
    assert math.isclose(start, stats["loss_before"], rel_tol=1e-4)
    # class 0 takes class 2's bit 0 (flat 12) and bit 2's complement (18 + 2); class 1
    # class 2's bit 1 (flat 13)
    assert sorted(chosen[0]) == [12, 20] and 13 in chosen[1]
    assert stats["complemented"] >= 1 and stats["other_class"] >= 2
    # no rounds: the pruned selection, unchanged
    same, none = swap_slots(outputs, labels, keep, 0.5, rounds=0)
    assert none["swaps"] == 0 and np.array_equal(same, keep + 6 * np.arange(3)[:, None])


def class_evidence(seed: int, samples: int = 3000):
    """Three classes, each with six noisy bits of evidence in another class's group (so
    the search keeps swapping them in), and the labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, samples)
    outputs = rng.integers(0, 2, (samples, 3, 12)).astype(np.uint8)
    for c in range(3):
        for i in range(6):
            outputs[:, (c + 1) % 3, i] = np.where(rng.random(samples) < 0.2 + 0.1 * i,
                                                  rng.integers(0, 2, samples), labels == c)
    return outputs, labels


def test_held_out_loss_is_the_slots_cross_entropy():
    outputs, labels = class_evidence(0)
    chosen = np.array([[0, 36 + 5, 70], [7, 7, 30], [1, 12, 71]])  # 2, 0, 1 complements
    slots = np.stack([np.bincount(row, minlength=72) for row in chosen])
    expected = cross_entropy(slot_scores(outputs, chosen).astype(float), labels, 0.7) / 3000
    assert math.isclose(HeldOut(outputs, labels).loss(slots, 0.7), expected, rel_tol=1e-6)


@pytest.mark.parametrize("seed", range(2))
def test_held_out_samples_stop_the_search_where_their_loss_is_lowest(seed):
    """Held-out samples like the searched ones change nothing; held-out samples whose labels
    contradict them keep the starting slots and stop the search HELD_OUT_PATIENCE rounds in."""
    outputs, labels = class_evidence(seed)
    keep = select_head(outputs, labels, 5, 1.0)
    plain, stats = swap_slots(outputs, labels, keep, 0.5, rounds=20, per_round=1)
    assert stats["rounds"] > HELD_OUT_PATIENCE + 1 and stats["swaps"] > 0
    alike, alike_stats = swap_slots(outputs, labels, keep, 0.5, rounds=20, per_round=1,
                                    held_out=HeldOut(outputs, labels))
    assert np.array_equal(alike, plain)
    assert alike_stats["held_out"]["round"] == stats["rounds"] - 1  # the last moved nothing
    assert alike_stats["loss_after"] == stats["loss_after"]
    assert alike_stats["swaps"] == stats["swaps"]
    contrary = HeldOut(outputs, (labels + 1) % 3)
    start, start_stats = swap_slots(outputs, labels, keep, 0.5, rounds=0)
    kept, kept_stats = swap_slots(outputs, labels, keep, 0.5, rounds=20, per_round=1,
                                  held_out=contrary)
    assert np.array_equal(np.sort(kept), np.sort(start))
    assert kept_stats["held_out"]["round"] == 0
    assert kept_stats["rounds"] == HELD_OUT_PATIENCE and kept_stats["swaps"] == 0
    assert kept_stats["loss_after"] == start_stats["loss_before"]
    assert kept_stats["held_out"]["loss_after"] == kept_stats["held_out"]["loss_before"]


def test_a_batch_of_swaps_that_overshoots_is_halved_until_the_loss_falls():
    """Eight copies of one strong but imperfect bit: each alone lowers the loss, all eight
    at once make the head so sure of itself that the loss rises above the start. The
    search must take fewer; every round's loss is below the last."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 4000)
    x = np.where(rng.random(4000) < 0.1, 1 - labels, labels) == 0  # class 0, 90 % right
    outputs = np.zeros((4000, 2, 24), dtype=np.uint8)
    outputs[:, 0, 16:] = x[:, None]  # eight copies; the kept slots 0..15 are constant 0
    keep = np.tile(np.arange(16), (2, 1))
    losses = []
    chosen, stats = swap_slots(outputs, labels, keep, 0.5, rounds=3,
                               log=lambda line: losses.append(float(line.split()[-1])))
    assert stats["swaps"] > 0 and stats["loss_after"] < stats["loss_before"]
    assert all(b < a for a, b in zip([stats["loss_before"]] + losses, losses[:-1]))
    recounted = cross_entropy(slot_scores(outputs, chosen).astype(float), labels, 0.5) / 4000
    assert math.isclose(recounted, stats["loss_after"], rel_tol=1e-4)


def test_head_cost_counts_heap_bits_and_signals_and_its_marginals_are_exact():
    """A signal counted w times by a class is one heap bit per set bit of w; each distinct
    signal adds SIGNAL_COST once. marginal_costs is the exact change of head_cost."""
    slots = np.zeros((3, 8), dtype=np.int64)
    slots[0, 1], slots[0, 2], slots[1, 2], slots[2, 5] = 3, 1, 4, 6
    assert head_cost(slots) == (2 + 1) + 1 + 2 + SIGNAL_COST * 3
    rng = np.random.default_rng(0)
    for _ in range(20):
        slots = rng.integers(0, 4, (3, 8)) * (rng.random((3, 8)) < 0.5)
        for c, m in itertools.product(range(3), (1, 2)):
            add, remove = marginal_costs(slots, c, m)
            for j in range(8):
                more = slots.copy()
                more[c, j] += m
                assert add[j] == head_cost(more) - head_cost(slots)
                if slots[c, j] >= m:
                    less = slots.copy()
                    less[c, j] -= m
                    assert remove[j] == head_cost(less) - head_cost(slots)


def random_cones(rng, width: int, gates: int) -> Cones:
    """Cones of random sizes over a few shared gates, some bits with none (wires)."""
    pairs = [(b, g) for b in range(width) for g in range(gates) if rng.random() < 0.3]
    bit, gate = np.array(pairs, dtype=np.int64).T
    return Cones(bit, gate, width, gates, weight=0.25)


def test_cone_cost_is_the_union_of_the_used_bits_cones_and_its_marginals_are_exact():
    """A gate counts once however many used bits read it, in either polarity; the marginal
    change of head_cost with cones is exact for one candidate at a time."""
    rng = np.random.default_rng(1)
    cones = random_cones(rng, 6, 9)
    for _ in range(20):
        slots = rng.integers(0, 3, (3, 12)) * (rng.random((3, 12)) < 0.3)
        used = {j % 6 for c in range(3) for j in range(12) if slots[c, j]}
        union = {g for b, g in zip(cones.bit, cones.gate) if b in used}
        assert cones.size(slots) == len(union)
        assert head_cost(slots, cones) == head_cost(slots) + 0.25 * len(union)
        for c, m in itertools.product(range(3), (1, 2)):
            add, remove = marginal_costs(slots, c, m, cones)
            for j in range(12):
                more = slots.copy()
                more[c, j] += m
                assert math.isclose(add[j], head_cost(more, cones) - head_cost(slots, cones))
                if slots[c, j] >= m:
                    less = slots.copy()
                    less[c, j] -= m
                    assert math.isclose(remove[j],
                                        head_cost(less, cones) - head_cost(slots, cones))


def trained_digits(path: Path) -> Path:
    """A digits net trained long enough that its output bits have real cones (3 epochs
    leave most of them wires to the inputs)."""
    assert train_main(["--dataset", "digits", "--layers", "300,200", "--epochs", "30",
                       "--thresholds", "3", "--tau", "4", "--connections", "learnable",
                       "-q", "-o", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def trained_digits_model(tmp_path_factory):
    return trained_digits(tmp_path_factory.mktemp("cones") / "digits30.pt")


def test_cones_count_the_gates_the_compiled_head_keeps(trained_digits_model):
    """The gates of the used bits' cones are exactly the gates -O2 keeps for a head of
    those bits (complements aside: those gates are the SIGNAL_COST share)."""
    model = load_model(trained_digits_model)
    cones = logic_cones(model)
    net = net_from_config(model.config, model.state_dict).eval()
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(4):
        chosen = rng.integers(0, cones.width, (10, 6))
        slots = np.stack([np.bincount(row, minlength=2 * cones.width) for row in chosen])
        narrowed = narrow_head(net, chosen, swapped=True)
        g, _ = optimize_model(model_from_dict(model_to_dict(narrowed, None, {})), PRESETS[2])
        sizes.append(cones.size(slots))
        assert sizes[-1] == len(ir.nodes_of_kind(g, ir.GATE))
    assert min(sizes) > 20 and len(set(sizes)) > 1


def test_same_columns_maps_equal_bits_and_complements_to_the_first():
    bits = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 1, 0]], dtype=np.float32)
    # bit 2 repeats bit 0; bit 3 is bit 1's complement... not bit 0's; complements follow
    canon = same_columns(bits)
    assert list(canon[:4]) == [0, 1, 0, 3]
    # complement of bit 0 (= bits 1,0,0) is new; of bit 1 (= 0,1,0) is new; of bit 2 is the
    # complement of bit 0; of bit 3 (= 0,1,1)... recount directly
    both = np.concatenate([bits, 1 - bits], axis=1)
    for j, k in enumerate(canon):
        assert k <= j and np.array_equal(both[:, j], both[:, k])
        assert all(not np.array_equal(both[:, i], both[:, j]) for i in range(k))


@pytest.mark.parametrize("seed", range(3))
def test_costed_swaps_trade_loss_for_cheaper_heads(seed):
    """With a bit cost the search lowers loss + cost (never raises it), merges bits equal on
    the training set without changing a score, and a larger cost gives a cheaper head."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 2000)
    outputs = rng.integers(0, 2, (2000, 3, 8)).astype(np.uint8)
    for c in range(3):
        outputs[:, c, :4] = np.where(rng.random((2000, 4)) < 0.3,
                                     rng.integers(0, 2, (2000, 4)), (labels == c)[:, None])
    outputs[:, 1, 5] = outputs[:, 1, 4]  # a duplicate of a kept bit
    keep = np.array([[0, 1, 2, 3, 4, 5]] * 3)
    start = np.stack([outputs[:, c, keep[c]].sum(1) for c in range(3)], 1)
    same, none = swap_slots(outputs, labels, keep, 0.5, rounds=0, bit_cost=1e-3)
    assert np.array_equal(slot_scores(outputs, same), start)  # merged: same scores
    assert 8 + 4 in same[1] and list(same[1]).count(8 + 4) == 2 and 8 + 5 not in same[1]
    costs = []
    for bit_cost in (1e-4, 1e-2, 1.0):
        chosen, stats = swap_slots(outputs, labels, keep, 0.5, rounds=30, bit_cost=bit_cost)
        assert chosen.shape == (3, 6)
        assert stats["cost_after"] == head_cost(np.stack(
            [np.bincount(row, minlength=48) for row in chosen]))
        assert stats["loss_after"] + bit_cost * stats["cost_after"] <= \
            stats["loss_before"] + bit_cost * stats["cost_before"] + 1e-12
        recounted = cross_entropy(slot_scores(outputs, chosen).astype(float), labels, 0.5)
        assert math.isclose(recounted / 2000, stats["loss_after"], rel_tol=1e-4)
        costs.append(stats["cost_after"])
    assert costs[0] >= costs[1] >= costs[2] and costs[2] < none["cost_before"] / 2


@pytest.mark.parametrize("parametrization,arity", [("softmax16", 2), ("iwp", 2), ("iwp", 3)])
@pytest.mark.parametrize("connections", ["learnable", "random"])
def test_swapped_head_computes_exactly_its_slots(parametrization, arity, connections,
                                                 tmp_path):
    """Copies of any class's bits and complemented gates, repeated, through torch, the
    model file and the compiler. Some IWP angles sit exactly on the rounding edge (w = 0.5
    is a 1), where negating the angle would not complement the table."""
    net = tiny_net(parametrization, arity, connections, seed=arity)
    if parametrization == "iwp":
        with torch.no_grad():
            net.layers[-1].logits[:5, 0] = 0.0
    bits = np.random.default_rng(2).integers(0, 2, (257, 40)).astype(np.float32)
    chosen = np.array([[0, 24, 24, 47], [1, 9, 30, 31], [2, 3, 26, 40]])  # width 24
    narrowed = narrow_head(net, chosen, tau=1.5, swapped=True).eval()
    expected = slot_scores(head_outputs(net, bits), chosen)
    assert np.array_equal(narrowed.discrete_scores(bits), expected)
    path = tmp_path / "m.pt"
    save_model(path, model_to_dict(narrowed, None, {"dataset": "synthetic"}))
    g, _ = optimize_model(load_model(path), PRESETS[2])
    assert np.array_equal(ir_scores(g, bits.astype(np.uint8)), expected)


def test_only_dense_nets_and_valid_keeps():
    net = tiny_net("softmax16", 2, "random")
    with pytest.raises(Exception, match="indices below 8"):
        narrow_head(net, np.array([[0], [1], [8]]))
    with pytest.raises(Exception, match="between 1 and"):
        select_head(np.zeros((4, 3, 8), np.uint8), np.zeros(4, np.int64), 9, 1.0)


def assert_circuit_is_the_net(model) -> None:
    """The compiled circuit (-O2) scores the digits test set exactly as the file's torch
    net does, and its accuracy is the one the file's meta records."""
    from lgn_train.data import load_dataset
    from lgn_train.export import encoder_from_file
    data = load_dataset("digits", seed=0)
    bits = encoder_from_file(model).encode(data.test_features)
    net = net_from_config(model.config, model.state_dict).eval()
    circuit = ir_scores(optimize_model(model, PRESETS[2])[0], bits)
    assert np.array_equal(circuit, net.discrete_scores(bits))
    accuracy = float((circuit.argmax(1) == data.test_labels).mean())
    assert math.isclose(accuracy, model.meta["accuracy"]["test_discrete"])


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("prune") / "digits.pt"
    assert train_main(["--dataset", "digits", "--layers", "300,200", "--epochs", "3",
                       "--thresholds", "3", "--tau", "4", "--connections", "learnable",
                       "-q", "-o", str(path)]) == 0
    return path


def test_cli_prunes_and_the_compiled_circuit_agrees(digits_model, tmp_path, capsys):
    out = tmp_path / "k8.pt"
    assert train_main(["prune", str(digits_model), "--group-size", "8", "-o", str(out)]) == 0
    assert "20 -> 8 bits per class" in capsys.readouterr().out
    model, original = load_model(out), load_model(digits_model)
    assert model.layers[-1].tables.shape[0] == 80
    assert model.meta["pruned"]["group_size"] == 20 and model.meta["pruned"]["kept"] == 8
    assert math.isclose(model.config["tau"], scaled_tau(4.0, 20, 8))
    # the layers before the head are the trained ones
    for a, b in zip(model.layers[:-1], original.layers[:-1]):
        assert np.array_equal(a.tables, b.tables) and np.array_equal(a.operands, b.operands)
    assert_circuit_is_the_net(model)


def test_cli_swaps_slots_and_the_compiled_circuit_agrees(digits_model, tmp_path, capsys):
    """Swapping after pruning: the training loss falls (the file records it), training
    accuracy is at least the pruned head's, and the written net is what compiles."""
    pruned, swapped = tmp_path / "k6.pt", tmp_path / "k6s.pt"
    assert train_main(["prune", str(digits_model), "--group-size", "6", "-o", str(pruned)]) == 0
    assert train_main(["prune", str(digits_model), "--group-size", "6", "--swap-rounds", "8",
                       "-o", str(swapped)]) == 0
    assert "round 1:" in capsys.readouterr().out
    before, after = load_model(pruned), load_model(swapped)
    swaps = after.meta["pruned"]["swaps"]
    assert swaps["swaps"] > 0 and swaps["loss_after"] < swaps["loss_before"]
    assert after.layers[-1].tables.shape[0] == 60
    assert after.meta["accuracy"]["train_discrete"] >= before.meta["accuracy"]["train_discrete"]
    assert_circuit_is_the_net(after)
    # with a bit cost: a cheaper head than the plain swap's, still exactly what compiles
    costed = tmp_path / "k6c.pt"
    assert train_main(["prune", str(digits_model), "--group-size", "6", "--swap-rounds", "8",
                       "--bit-cost", "0.01", "-o", str(costed)]) == 0
    cheap = load_model(costed).meta["pruned"]["swaps"]
    assert cheap["cost_after"] < cheap["cost_before"] and cheap["bit_cost"] == 0.01
    assert_circuit_is_the_net(load_model(costed))
    # a whole head can be refitted without narrowing it
    assert train_main(["prune", str(digits_model), "--group-size", "20", "--swap-rounds", "1",
                       "-o", str(tmp_path / "k20.pt")]) == 0


def test_cli_gate_cost_keeps_fewer_logic_gates(trained_digits_model, tmp_path):
    """At the same bit cost, weighing the logic gates keeps fewer of them; the file
    records the count, and the written net is what compiles."""
    gates = {}
    for gate_cost in ("0", "2"):
        out = tmp_path / f"g{gate_cost}.pt"
        assert train_main(["prune", str(trained_digits_model), "--group-size", "6",
                           "--swap-rounds", "20", "--bit-cost", "0.01", "--gate-cost",
                           gate_cost, "-o", str(out)]) == 0
        model = load_model(out)
        assert_circuit_is_the_net(model)
        g, _ = optimize_model(model, PRESETS[2])
        gates[gate_cost] = len(ir.nodes_of_kind(g, ir.GATE))
        swaps = model.meta["pruned"]["swaps"]
    assert swaps["gate_cost"] == 2.0 and swaps["logic_gates_after"] < swaps["logic_gates_before"]
    assert swaps["logic_gates_after"] <= gates["2"] < gates["0"]


@pytest.mark.parametrize("argv,fragment", [
    (["--group-size", "20"], "between 1 and 19"),
    (["--group-size", "21", "--swap-rounds", "2"], "between 1 and 20"),
    (["--group-size", "4", "--swap-rounds", "-1"], "--swap-rounds must be 0 or more"),
    (["--group-size", "4", "--bit-cost", "1e-4"], "--bit-cost applies only with --swap-rounds"),
    (["--group-size", "4", "--swap-rounds", "2", "--bit-cost", "-1"], "--bit-cost must be 0"),
    (["--group-size", "4", "--swap-rounds", "2", "--bit-cost", "nan"], "--bit-cost must be 0"),
    (["--group-size", "4", "--held-out", "100"], "--held-out applies only with --swap-rounds"),
    (["--group-size", "4", "--swap-rounds", "2", "--held-out", "-1"], "--held-out must be 0"),
    (["--group-size", "4", "--swap-rounds", "2", "--held-out", "719"], "at most half"),
    (["--group-size", "4", "--swap-rounds", "2", "--gate-cost", "1"],
     "--gate-cost applies only with --bit-cost"),
    (["--group-size", "4", "--swap-rounds", "2", "--bit-cost", "1e-3", "--gate-cost", "-1"],
     "--gate-cost must be 0"),
    (["--group-size", "0"], "between 1 and 19"),
    (["--group-size", "4", "--dataset", "nope"], "unknown dataset"),
    (["--group-size", "4", "--threads", "0"], "--threads"),
])
def test_cli_bad_requests_are_one_line_and_write_nothing(digits_model, tmp_path, capsys,
                                                         argv, fragment):
    out = tmp_path / "m.pt"
    capsys.readouterr()
    assert train_main(["prune", str(digits_model), *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lgn-train prune: error:") and fragment in err[0]
    assert not out.exists()


def test_cli_refuses_a_file_that_is_not_a_model(tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a zip")
    assert train_main(["prune", str(bogus), "--group-size", "2", "-o",
                       str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert not (tmp_path / "m.pt").exists()


def test_learnable_wiring_the_file_cannot_hold_is_refused_before_allocating(digits_model):
    """A config's candidate count sizes the connection logits allocated before the state
    dict is compared with them: a config asking for more than the file holds is refused
    (prune and --resume rebuild nets this way)."""
    model = load_model(digits_model)
    config = {**model.config, "layers": [dict(layer) for layer in model.config["layers"]]}
    config["layers"][0]["candidates"] = 0  # every input: 384 per operand instead of 16
    with pytest.raises(Exception, match="larger than the parameters the file holds"):
        net_from_config(config, model.state_dict)


def test_init_from_starts_at_the_pruned_net_and_keeps_its_shape(digits_model, tmp_path):
    """`--init-from` fine-tunes the file's own net: with a learning rate too small to flip
    any gate, one step leaves the discrete net (tables and wiring) exactly the pruned one,
    which a freshly built net of the same shape would not be; the written file keeps the
    narrow head, records where it came from, and compiles to a circuit equal to torch."""
    pruned, tuned = tmp_path / "k6.pt", tmp_path / "tuned.pt"
    assert train_main(["prune", str(digits_model), "--group-size", "6", "-o", str(pruned)]) == 0
    assert train_main(["--init-from", str(pruned), "--steps", "1", "--lr", "1e-12",
                       "--seed", "5", "--layers", "300, 60", "--dataset", "digits",
                       "-q", "-o", str(tuned)]) == 0  # flags that agree with the file pass
    before, after = load_model(pruned), load_model(tuned)
    assert [layer.tables.shape for layer in after.layers] == \
        [layer.tables.shape for layer in before.layers]
    for a, b in zip(after.layers, before.layers):
        assert np.array_equal(a.tables, b.tables) and np.array_equal(a.operands, b.operands)
    assert np.array_equal(after.encoder.thresholds, before.encoder.thresholds)
    assert after.config["tau"] == before.config["tau"]
    assert after.meta["init_from"]["from"] == "k6.pt"
    assert after.meta["init_from"]["pruned"]["kept"] == 6
    assert after.meta["training"]["layers"] == [300, 60]
    assert after.meta["training"]["connections"] == "learnable"

    longer = tmp_path / "longer.pt"  # a real fine-tune moves the net, and stays exact
    assert train_main(["--init-from", str(pruned), "--epochs", "2", "--lr", "0.05",
                       "-q", "-o", str(longer)]) == 0
    model = load_model(longer)
    assert any(not np.array_equal(a.tables, b.tables) or not np.array_equal(a.operands, b.operands)
               for a, b in zip(model.layers, before.layers))
    assert_circuit_is_the_net(model)


def test_init_from_can_finish_a_soft_net_with_hard_gates(digits_model, tmp_path):
    """`--sampling` is how the gates relax in training, not part of the trained net: a
    soft-trained file can be finished with hard gates (training then sees the discrete
    net: no gap on the training set), and a later --init-from keeps the file's setting."""
    hard, again = tmp_path / "hard.pt", tmp_path / "again.pt"
    assert load_model(digits_model).meta["training"]["sampling"] == "soft"
    assert train_main(["--init-from", str(digits_model), "--sampling", "hard", "--epochs", "1",
                       "--lr", "0.01", "-q", "-o", str(hard)]) == 0
    model = load_model(hard)
    assert model.meta["training"]["sampling"] == "hard"
    assert {layer["sampling"] for layer in model.config["layers"]} == {"hard"}
    accuracy = model.meta["accuracy"]
    assert accuracy["train_soft"] == accuracy["train_discrete"]
    assert accuracy["test_soft"] == accuracy["test_discrete"]
    assert_circuit_is_the_net(model)
    assert train_main(["--init-from", str(hard), "--steps", "1", "-q", "-o", str(again)]) == 0
    assert load_model(again).meta["training"]["sampling"] == "hard"
    # a file whose meta predates a relaxation setting: its net's layers say what it is
    older = tmp_path / "older.pt"
    raw = torch.load(hard, weights_only=True)
    training = {k: v for k, v in raw["meta"]["training"].items() if k != "sampling"}
    save_model(older, {**raw, "meta": {**raw["meta"], "training": training}})
    assert train_main(["--init-from", str(older), "--steps", "1", "-q", "-o", str(again)]) == 0
    assert load_model(again).meta["training"]["sampling"] == "hard"
    # the wiring's relaxation is a training setting too
    assert train_main(["--init-from", str(hard), "--connection-relax", "soft", "--steps", "1",
                       "-q", "-o", str(again)]) == 0
    assert load_model(again).meta["training"]["connection_relax"] == "soft"
    assert load_model(again).config["layers"][0]["connection_relax"] == "soft"


def test_init_from_refusals_are_one_line_and_write_nothing(digits_model, tmp_path, capsys):
    raw = torch.load(digits_model, weights_only=True)
    no_meta = tmp_path / "no_meta.pt"  # e.g. an imported net: nothing says how it trained
    save_model(no_meta, {**raw, "meta": {}})
    bad_meta = tmp_path / "bad_meta.pt"
    save_model(bad_meta, {**raw, "meta": {**raw["meta"], "training": {
        **raw["meta"]["training"], "arity": "two"}}})
    bad_sampling = tmp_path / "bad_sampling.pt"
    save_model(bad_sampling, {**raw, "meta": {**raw["meta"], "training": {
        **raw["meta"]["training"], "sampling": "warm"}}})
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a zip")
    out = tmp_path / "out.pt"
    for argv, fragment in [
            (["--init-from", str(digits_model), "--resume", str(digits_model)], "one of them"),
            (["--init-from", str(no_meta)], "training settings"),
            (["--init-from", str(bad_meta)], "the model's setting arity = 'two'"),
            (["--init-from", str(bad_sampling), "--sampling", "hard"], "sampling = 'warm'"),
            (["--init-from", str(digits_model), "--sampling", "hard", "--gumbel-tau", "2"],
             "--gumbel-tau applies only with --sampling gumbel"),
            (["--init-from", str(bogus)], "bogus.pt"),
            (["--init-from", str(tmp_path / "missing.pt")], "missing.pt"),
            # the file's net is trained as it is: a flag saying otherwise is not dropped
            (["--init-from", str(digits_model), "--layers", "10,10"], "--layers 10,10 differs"),
            (["--init-from", str(digits_model), "--tau", "99"], "--tau 99.0 differs"),
            (["--init-from", str(digits_model), "--conv", "c4"], "--conv c4 differs"),
            (["--init-from", str(digits_model), "--thresholds", "9"], "--thresholds 9 differs")]:
        capsys.readouterr()
        assert train_main([*argv, "-o", str(out)]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lgn-train: error:"), (argv, err)
        assert fragment in err[0], (argv, err)
        assert not out.exists()


def test_pruning_in_two_steps_keeps_the_same_gates_as_one(digits_model, tmp_path):
    """20 -> 10 -> 4 keeps what 20 -> 4 keeps: the greedy path is nested and the narrowed
    file's tau is the one the longer path would be at (tau scales with the group), so a
    pruned model can be pruned again. "The same" as the selection sees it: equal class
    scores on the training set (trained heads hold gates equal on it, e.g. copies, and
    which copy survives a tie is not part of the promise)."""
    direct, half, twice = tmp_path / "k4.pt", tmp_path / "k10.pt", tmp_path / "k10k4.pt"
    for source, group, out in [(digits_model, 4, direct), (digits_model, 10, half),
                               (half, 4, twice)]:
        assert train_main(["prune", str(source), "--group-size", str(group),
                           "-o", str(out)]) == 0
    a, b = load_model(direct), load_model(twice)
    from lgn_train.data import load_dataset
    from lgn_train.export import encoder_from_file
    bits = encoder_from_file(a).encode(load_dataset("digits", seed=0).train_features)
    scores = [ir_scores(optimize_model(m, PRESETS[2])[0], bits) for m in (a, b)]
    assert np.array_equal(*scores)
    assert math.isclose(a.config["tau"], b.config["tau"])


@pytest.mark.parametrize("flags,fragment", [
    (["--bit-cost", "x"], "numbers separated by commas"),
    (["--bit-cost", "1e-5"], "only with --swap-rounds"),
    (["--swapped-only"], "only with --swap-rounds"),
    (["--held-out", "500"], "only with --swap-rounds"),
    ([], "model file not found"),
    (["--swap-rounds", "2", "--bit-cost", "0,-1"], "must be 0 or more"),
    (["--swap-rounds", "2", "--bit-cost", "nan"], "must be 0 or more"),
    (["--swap-rounds", "2", "--gate-cost", "1"], "--gate-cost applies only with a --bit-cost"),
    (["--swap-rounds", "2", "--bit-cost", "1e-5", "--gate-cost", "-1"], "must be 0 or more"),
    (["--finetune", "3"], "takes EPOCHS:LR"),
    (["--finetune", "x:0.01"], "takes EPOCHS:LR"),
    (["--finetune", "0:0.01"], "at least 1 epoch"),
    (["--finetune", "2:nan"], "a rate above 0"),
    (["--group-sizes", "4,x"], "integers separated by commas"),
    (["--group-sizes", "0"], "must be 1 or more"),
])
def test_prune_benchmark_refuses_flags_it_would_ignore(tmp_path, flags, fragment):
    """benchmarks/prune.py's own flags: a usage error before any model is read."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "prune.py"
    groups = ["--group-sizes", "4"] if "--group-sizes" not in flags else []
    run = subprocess.run([sys.executable, str(script), "--model", f"m={tmp_path / 'none.pt'}"]
                         + groups + flags, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and fragment in run.stderr and "Traceback" not in run.stderr
    assert not any(tmp_path.iterdir())
