"""Convolutional logic networks (lgn_train.conv): the conv trees and OR pooling against
straightforward references, and the unrolled model file compiled by lgn_compile against
the torch discrete forward. Small images only."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lgn_compile import evaluate, ir
from lgn_compile.compiler import compile_model
from lgn_compile.model_file import load_model, save_model
from lgn_compile.passes import PRESETS, run_pipeline
from lgn_compile.verify import c_library, python_module_scores
from lgn_train import model_from_file, model_to_dict, net_from_config, train
from lgn_train.cli import main as train_main
from lgn_train.conv import (ConvLogicNet, Flatten, LogicConv2d, OrPool2d,
                            fold_constant_operands, parse_conv_spec)
from lgn_train.layers import LogicLayer

# (parametrization, arity, sampling): every gate kind and sampling mode
GATES = [("softmax16", 2, "soft"), ("iwp", 2, "soft"), ("iwp", 3, "soft"),
         ("softmax16", 2, "gumbel"), ("iwp", 2, "gumbel"), ("iwp", 3, "hard")]
# conv geometry (kernel, stride, padding) on a 7x7 image: plain, padded, strided + padded
GEOMETRY = [(3, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 1)]


def gate_id(case):
    return "-".join(map(str, case))


def random_bits(n, num_inputs, seed=0):
    return torch.randint(0, 2, (n, num_inputs), generator=torch.Generator().manual_seed(seed))


def scrambled(block, seed=0):
    """`block` with random gate parameters, so every tree level computes varied gates."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in block.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 3)
    return block


def reference_conv(conv: LogicConv2d, bits: torch.Tensor) -> torch.Tensor:
    """The conv's discrete output computed the plain way: F.unfold the zero-padded image,
    read each tree's leaves, evaluate each level's truth tables gate by gate."""
    field = F.unfold(bits.float(), conv.kernel_size, padding=conv.padding, stride=conv.stride)
    values = field[:, conv.levels[0].indices.t()].long()  # [N, gates, arity, positions]
    for level in conv.levels:
        operands, tables = level.discretize()
        if level is not conv.levels[0]:
            values = values[:, operands]
        assignment = sum(values[:, :, i] << i for i in range(level.arity))
        values = torch.stack([tables[g][assignment[:, g]] for g in range(len(tables))], 1)
        values = values.long()
    _, height, width = conv.out_shape(bits.shape[1:])
    return values.reshape(len(bits), conv.out_channels, height, width)


@pytest.mark.parametrize("geometry", GEOMETRY, ids=gate_id)
@pytest.mark.parametrize("case", [GATES[0], GATES[2]], ids=gate_id)
def test_conv_discrete_forward_equals_an_unfold_reference(case, geometry):
    parametrization, arity, _ = case
    kernel, stride, padding = geometry
    conv = scrambled(LogicConv2d(3, 5, kernel, stride, padding, depth=2, seed=4,
                                 parametrization=parametrization, arity=arity))
    bits = random_bits(6, 3 * 7 * 7).reshape(6, 3, 7, 7)
    out = conv.forward_discrete(bits)
    assert out.shape == (6, 5, *[(7 + 2 * padding - kernel) // stride + 1] * 2)
    assert torch.equal(out.long(), reference_conv(conv, bits))
    # eval mode is the discrete forward
    assert torch.equal(conv.eval()(bits.float()), out.float())


def test_trees_read_leaves_of_their_field_and_start_as_pass_through():
    conv = LogicConv2d(6, 8, kernel_size=3, depth=3, channels_per_tree=2, seed=1)
    leaves = conv.levels[0].indices.t().reshape(8, -1)  # [trees, 8 leaves]
    assert leaves.shape == (8, 8)
    for tree in leaves:
        assert len(set(tree.tolist())) == 8  # distinct positions
        assert len(set((tree // 9).tolist())) <= 2  # from at most 2 input channels
    # residual init: each tree passes its first leaf through (relaxed: on the right side)
    bits = random_bits(4, 6 * 5 * 5, seed=2).reshape(4, 6, 5, 5).float()
    first = F.unfold(bits, 3)[:, leaves[:, 0]].reshape(4, 8, 3, 3)
    assert (conv.train()(bits) - first).abs().max() < 0.25
    assert torch.equal(conv.eval()(bits), first)


def small_net(parametrization="softmax16", arity=2, sampling="soft", geometry=(3, 1, 1),
              seed=0):
    kernel, stride, padding = geometry
    spec = [{"type": "conv", "out_channels": 4, "kernel_size": kernel, "stride": stride,
             "padding": padding, "depth": 2, "channels_per_tree": 2},
            {"type": "or_pool", "kernel_size": 2, "stride": 1}]
    return ConvLogicNet.build((2, 7, 7), 2, spec, [24], 3, tau=2.0, seed=seed,
                              parametrization=parametrization, arity=arity, sampling=sampling,
                              init="uniform")


def image_task(net, n=96, seed=0):
    bits = random_bits(n, net.num_inputs, seed)
    return bits.float(), bits[:, ::5].sum(1) % 3


def trained_model(tmp_path, net, device="cpu"):
    bits, labels = image_task(net)
    train(net, bits, labels, steps=4, batch_size=32, lr=0.1, seed=0, device=device,
          progress=False, log=lambda line: None)
    path = tmp_path / "conv.pt"
    save_model(path, model_to_dict(net, None, {"dataset": "toy"}))
    return load_model(path)


@pytest.mark.parametrize("geometry", GEOMETRY, ids=gate_id)
@pytest.mark.parametrize("case", GATES, ids=gate_id)
def test_unrolled_conv_net_compiles_to_the_torch_discrete_forward(tmp_path, case, geometry):
    """Train a few steps, save, load: the -O2 circuit's scores are the conv net's."""
    net = small_net(*case, geometry=geometry)
    model = trained_model(tmp_path, net)
    assert model.num_gates == net.num_gates
    assert [layer.arity for layer in model.layers][-2:] == [4, case[1]]  # OR pool, dense
    probe = random_bits(300, net.num_inputs, seed=5).numpy().astype("uint8")
    expected = net.discrete_scores(probe)
    graph = ir.from_model(model)
    assert (evaluate.scores(graph, probe) == expected).all()
    optimized, _ = run_pipeline(graph, PRESETS[2])
    assert (evaluate.scores(optimized, probe) == expected).all()
    assert len(ir.nodes_of_kind(optimized, ir.GATE)) < model.num_gates
    assert (model_from_file(model).discrete_scores(probe) == expected).all()


def test_emitted_python_and_c_compute_the_conv_net(tmp_path):
    net = small_net("iwp", 2, geometry=(3, 2, 1))
    model = trained_model(tmp_path, net)
    files, _ = compile_model(model, ["python", "c"], PRESETS[2])
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    probe = random_bits(200, net.num_inputs, seed=6).numpy().astype("uint8")
    expected = net.discrete_scores(probe)
    assert (python_module_scores(tmp_path / f"{model.name}.py", probe) == expected).all()
    assert (c_library(tmp_path / f"{model.name}.c", model, tmp_path).scores(probe)
            == expected).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", GATES, ids=gate_id)
def test_conv_net_trained_on_cuda_computes_what_it_compiles_to(tmp_path, case):
    net = small_net(*case, geometry=(3, 2, 1))
    model = trained_model(tmp_path, net, device="cuda")
    probe = random_bits(300, net.num_inputs, seed=7)
    on_gpu = net.discrete_scores(probe.cuda()).cpu()
    assert torch.equal(on_gpu, net.cpu().discrete_scores(probe))
    assert (evaluate.scores(ir.from_model(model), probe.numpy().astype("uint8"))
            == on_gpu.numpy()).all()


@pytest.mark.parametrize("stride", [1, 2])
def test_or_pool_is_max_pooling_on_bits_in_torch_and_in_the_circuit(tmp_path, stride):
    """A pool followed by a dense layer of pass-through gates: the circuit's output bits
    are F.max_pool2d of the image."""
    pool = OrPool2d(2, stride)
    channels, height, width = pool.out_shape((3, 6, 6))
    pooled = channels * height * width
    dense = LogicLayer(pooled, pooled, "iwp", init="uniform")
    dense.set_tables([[0, 1, 0, 1]] * pooled, [[i, 0] for i in range(pooled)])
    net = ConvLogicNet((3, 6, 6), 1, [pool, Flatten(), dense], num_classes=1)
    bits = random_bits(64, net.num_inputs, seed=3)
    expected = F.max_pool2d(bits.reshape(64, 3, 6, 6).float(), 2, stride).reshape(64, -1)
    assert torch.equal(pool.forward_discrete(bits.reshape(64, 3, 6, 6)).reshape(64, -1).float(),
                       expected)
    save_model(tmp_path / "pool.pt", model_to_dict(net, None))
    graph = ir.from_model(load_model(tmp_path / "pool.pt"))
    assert (evaluate.output_bits(graph, bits.numpy().astype("uint8")) == expected.numpy()).all()
    assert all(graph.nodes[n]["table"] == 0xFFFE for n in ir.nodes_of_kind(graph, ir.GATE)
               if len(ir.operands(graph, n)) == 4)


def test_padding_folds_into_tables_without_changing_the_gate():
    gen = torch.Generator().manual_seed(0)
    for arity in (2, 3, 4):
        tables = torch.randint(0, 2, (200, 1 << arity), generator=gen, dtype=torch.uint8)
        operands = torch.randint(0, 50, (200, arity), generator=gen)
        real = torch.randint(0, 2, (200, arity), generator=gen).bool()
        values = torch.randint(0, 2, (200, 50), generator=gen)
        folded_ops, folded_tables = fold_constant_operands(operands, tables, real)
        assert (folded_ops[real] == operands[real]).all()
        assert (folded_ops[~real] < 50).all()

        assert torch.equal(gate(values, folded_ops, folded_tables, torch.zeros_like(real)),
                           gate(values, operands, tables, ~real))


def gate(values, operands, tables, zero):
    """Gates [G] over their rows of `values`; operands where `zero` read constant 0."""
    bits = values.gather(1, operands) * ~zero
    assignment = sum(bits[:, i] << i for i in range(operands.shape[1]))
    return tables.gather(1, assignment[:, None])


@pytest.mark.parametrize("case", GATES, ids=gate_id)
def test_relaxed_gradients_reach_every_gate_of_every_block(case):
    net = small_net(*case).train()
    bits, labels = image_task(net, n=32)
    loss = F.cross_entropy(net(bits * 0.8 + 0.1), labels)  # soft inputs: every path matters
    loss.backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_hard_sampling_trains_exactly_the_discrete_conv_net():
    """A conv net with learnable leaves under `sampling="hard"` (and a soft-built net set to
    it, as `--init-from --sampling hard` does) scores in train mode as in eval mode."""
    spec = [{"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1,
             "depth": 2, "channels_per_tree": 2}, {"type": "or_pool", "kernel_size": 2,
                                                    "stride": 2}]
    net = scrambled(ConvLogicNet.build((2, 7, 7), 2, spec, [24], 3, tau=2.0, seed=1,
                                       parametrization="iwp", arity=3, init="uniform",
                                       connections="learnable", candidates=8))
    bits, labels = image_task(net, n=48)
    soft = net.train()(bits)
    net.set_relaxation("hard")
    assert {block.sampling for block in net.modules() if hasattr(block, "sampling")} == {"hard"}
    hard = net(bits)
    torch.testing.assert_close(hard, net.eval()(bits), rtol=0, atol=1e-6)
    assert not torch.allclose(soft, hard)
    F.cross_entropy(net.train()(bits), labels).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_config_rebuilds_the_conv_net_for_resuming(tmp_path):
    net = small_net("iwp", 3, "gumbel", geometry=(3, 2, 1))
    model = trained_model(tmp_path, net)
    assert [block["type"] for block in model.config["arch"]["blocks"]] == [
        "conv", "or_pool", "flatten", "logic"]
    rebuilt = net_from_config(model.config, model.state_dict)
    bits, _ = image_task(net, n=40, seed=9)
    assert torch.equal(rebuilt.eval()(bits), net.eval()(bits))
    assert torch.equal(rebuilt.forward_relaxed(bits), net.forward_relaxed(bits))


def test_conv_spec_parses_and_rejects_bad_blocks():
    assert parse_conv_spec("c16k5s2p1d2g3, pool,pool1s1") == [
        {"type": "conv", "out_channels": 16, "kernel_size": 5, "stride": 2, "padding": 1,
         "depth": 2, "channels_per_tree": 3},
        {"type": "or_pool", "kernel_size": 2},
        {"type": "or_pool", "kernel_size": 1, "stride": 1}]
    for bad in ("c", "c4x3", "pool3x", "conv4", ""):
        with pytest.raises(ValueError, match="bad conv block"):
            parse_conv_spec(bad)
    with pytest.raises(ValueError, match="does not fit"):
        ConvLogicNet.build((1, 4, 4), 1, parse_conv_spec("c2k3,pool,c2k3"), [4], 2)
    with pytest.raises(ValueError, match="window of at most"):
        OrPool2d(3)


DIGITS_CONV = ["--dataset", "digits", "--conv", "c4k3p1d2,pool", "--layers", "60",
               "--thresholds", "2", "--limit", "300", "--batch-size", "100", "--threads", "1",
               "-q"]


def test_cli_trains_a_conv_net_and_resumes_it_exactly(tmp_path, capsys):
    straight, resumed, checkpoint = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "ck.pt"
    assert train_main(DIGITS_CONV + ["--epochs", "2", "-o", str(straight)]) == 0
    assert train_main(DIGITS_CONV + ["--epochs", "1", "-o", str(tmp_path / "half.pt"),
                                     "--checkpoint", str(checkpoint)]) == 0
    assert train_main(["--resume", str(checkpoint), "--epochs", "2", "-q", "--threads", "1",
                       "-o", str(resumed)]) == 0
    a, b = load_model(straight), load_model(resumed)
    assert a.config["arch"] == b.config["arch"] and a.config["arch"]["image_shape"] == [1, 8, 8]
    assert all((x.tables == y.tables).all() and (x.operands == y.operands).all()
               for x, y in zip(a.layers, b.layers))
    assert a.meta["training"]["conv"] == "c4k3p1d2,pool"
    capsys.readouterr()
    assert train_main(DIGITS_CONV + ["--conv", "c4q3", "-o", str(tmp_path / "x.pt")]) == 2
    assert train_main(DIGITS_CONV + ["--conv", "c4k9", "-o", str(tmp_path / "x.pt")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "bad conv block 'c4q3'" in errors[0]
    assert "does not fit" in errors[1]
