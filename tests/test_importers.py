"""Importers: difflogic and torchlogix networks compile to files that compute what the
library's own discrete forward computes.

The difflogic package needs CUDA to build, so its modules are stood in for here by minimal
modules with the same attributes (`weights`, `indices`, `GroupSum.k/tau`) whose forward is
difflogic's eval forward written from its published gate definitions (`bin_op` in
difflogic/functional.py): an arithmetic path independent of our truth tables. torchlogix
likewise, plus its real layers when the package can be loaded here.
"""

import functools
import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

import lgn_compile
from lgn_compile.cli import main
from lgn_compile.compiler import compile_model, write_output_dir
from lgn_compile.errors import LgnError
from lgn_compile.model_file import load_model, model_from_dict
from lgn_compile.passes import PRESETS
from lgn_compile.random_net import random_input_bits
from lgn_compile.verify import check_backends

# difflogic, as published -------------------------------------------------------------

def bin_op(a, b, i):
    """difflogic/functional.py bin_op: op i of the 16, on real-valued a, b."""
    return [torch.zeros_like(a), a * b, a - a * b, a, b - a * b, b, a + b - 2 * a * b,
            a + b - a * b, 1 - (a + b - a * b), 1 - (a + b - 2 * a * b), 1 - b,
            1 - b + a * b, 1 - a, 1 - a + a * b, 1 - a * b, torch.ones_like(a)][i]


def bin_op_s(a, b, i_s):
    return sum(i_s[..., i] * bin_op(a, b, i) for i in range(16))


class LogicLayer(torch.nn.Module):
    """difflogic's LogicLayer in eval mode: indices a plain attribute, argmax of weights."""

    def __init__(self, in_dim, out_dim, generator, ops=None):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        weights = torch.randn(out_dim, 16, generator=generator)
        if ops is not None:  # make op ops[g] the winner of gate g
            weights[torch.arange(out_dim), ops] += 10
        self.weights = torch.nn.Parameter(weights)
        c = torch.randint(0, in_dim, (2, out_dim), generator=generator)
        self.indices = c[0], c[1]

    def forward(self, x):
        a, b = x[..., self.indices[0]], x[..., self.indices[1]]
        weights = torch.nn.functional.one_hot(self.weights.argmax(-1), 16).to(torch.float32)
        return bin_op_s(a, b, weights)


class GroupSum(torch.nn.Module):
    def __init__(self, k, tau=1.0, beta=0.0):
        super().__init__()
        self.k, self.tau, self.beta = k, tau, beta

    def forward(self, x):
        summed = x.reshape(*x.shape[:-1], self.k, x.shape[-1] // self.k).sum(-1)
        return (summed + self.beta) / self.tau


def difflogic_net(seed=0, num_inputs=12, sizes=(32, 24, 12), k=3, tau=4.0, library=None):
    """Flatten, LogicLayers with random wiring (the first one holding all 16 ops), GroupSum;
    the stand-ins, or `library`'s (the real difflogic module) own classes."""
    generator = torch.Generator().manual_seed(seed)
    layers, in_dim = [torch.nn.Flatten()], num_inputs
    for i, out_dim in enumerate(sizes):
        ops = torch.arange(out_dim) % 16 if i == 0 else None
        layer = LogicLayer(in_dim, out_dim, generator, ops)
        if library is not None:  # the real layer, with the stand-in's weights and wiring
            real = library.LogicLayer(in_dim, out_dim, device="cpu", implementation="python")
            with torch.no_grad():
                real.weights.copy_(layer.weights)
            real.indices, layer = layer.indices, real
        layers.append(layer)
        in_dim = out_dim
    head = GroupSum(k, tau) if library is None else library.GroupSum(k, tau, device="cpu")
    return torch.nn.Sequential(*layers, head).eval()


def library_scores(net, group_sum, bits):
    """The library's own discrete forward, turned back into integer class scores."""
    with torch.no_grad():
        out = net(torch.tensor(bits, dtype=torch.float32)).double().numpy()
    return np.rint(out * group_sum.tau - getattr(group_sum, "beta", 0.0)).astype(np.int64)


def compile_and_check(model_dict, tmp_path, bits):
    """Compile to Verilog, C and Python, run all of them (and the torch discrete forward);
    returns the agreed scores."""
    model = model_from_dict(model_dict)
    files, _ = compile_model(model, ["verilog", "c", "python"], PRESETS[2])
    write_output_dir(files, tmp_path / "out", force=False)
    result = check_backends(model, tmp_path / "out", bits, simulators=("icarus",),
                            progress=lambda _: None)
    assert [r.backend for r in result.results] == [
        "torch discrete", "python (numpy)", "C batch (gcc -march=native)", "C packed bits",
        "C one-sample", "Verilog (icarus)"]
    assert result.all_agree, [(r.backend, r.mismatches) for r in result.results]
    return result.reference


@pytest.mark.parametrize("library", ["stand-in", "real"])
def test_difflogic_net_with_all_16_ops_compiles_to_its_own_forward(tmp_path, library):
    if library == "real":  # needs CUDA to build: pip install difflogic on a GPU machine
        net = difflogic_net(library=pytest.importorskip("difflogic"))
    else:
        net = difflogic_net()
    assert set(net[1].weights.argmax(-1).tolist()) == set(range(16))
    model_dict = lgn_compile.from_difflogic(net)
    bits = random_input_bits(1, 300, 12)
    scores = compile_and_check(model_dict, tmp_path, bits)
    np.testing.assert_array_equal(scores, library_scores(net, net[-1], bits))
    assert model_dict["config"]["tau"] == 4.0 and model_dict["config"]["num_classes"] == 3


def test_difflogic_state_dict_with_indices_is_the_same_network():
    net = difflogic_net(seed=3)
    from_module = lgn_compile.from_difflogic(net)
    indices = [layer.indices for layer in net if isinstance(layer, LogicLayer)]
    from_state = lgn_compile.from_difflogic(net.state_dict(), indices=indices, num_classes=3,
                                            tau=4.0, num_inputs=12)
    for key in ("operands", "tables"):
        for a, b in zip(from_module["discrete"][key], from_state["discrete"][key]):
            assert torch.equal(a, b)
    assert from_module["config"] == from_state["config"]


@pytest.mark.parametrize("change, message", [
    (lambda net: delattr(net[2], "indices"), "logic layer 1 .* no 'indices'"),
    (lambda net: setattr(net[1], "indices", net[1].indices[:1]), "2 index vectors"),
    (lambda net: setattr(net[2], "weights", torch.nn.Parameter(torch.randn(24, 8))),
     "[out, 16]"),
    (lambda net: net.insert(2, torch.nn.ReLU()), "unsupported module ReLU"),
    (lambda net: net.append(torch.nn.Flatten()), "after the GroupSum"),
])
def test_difflogic_module_problems_are_one_lgn_error(change, message):
    net = difflogic_net()
    change(net)
    with pytest.raises(LgnError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lgn_compile.from_difflogic(net)


def test_difflogic_state_dict_without_indices_says_what_is_missing():
    with pytest.raises(LgnError, match="keeps LogicLayer.indices out of state_dict"):
        lgn_compile.from_difflogic(difflogic_net().state_dict(), num_classes=3)
    with pytest.raises(LgnError, match="no GroupSum found"):
        net = difflogic_net()
        lgn_compile.from_difflogic(net.state_dict(), indices=[
            layer.indices for layer in net if isinstance(layer, LogicLayer)])


# command line ------------------------------------------------------------------------

def save_difflogic_files(tmp_path, net):
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    torch.save([layer.indices for layer in net if isinstance(layer, LogicLayer)],
               tmp_path / "idx.pt")
    return tmp_path / "sd.pt", tmp_path / "idx.pt"


def test_cli_imports_a_state_dict_and_the_result_compiles(tmp_path, capsys):
    net = difflogic_net(seed=5)
    state, indices = save_difflogic_files(tmp_path, net)
    out = tmp_path / "model.pt"
    assert main(["import", "--from", "difflogic", str(state), "--indices", str(indices),
                 "--classes", "3", "--tau", "4", "--inputs", "12", "-o", str(out)]) == 0
    model = load_model(out)
    expected = model_from_dict(lgn_compile.from_difflogic(net))
    for ours, theirs in zip(model.layers, expected.layers):
        np.testing.assert_array_equal(ours.operands, theirs.operands)
        np.testing.assert_array_equal(ours.tables, theirs.tables)
    assert main([str(out), "-t", "python", "-o", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "difflogic_net.py").exists()


def test_cli_unpickles_a_whole_module_only_when_trusted(tmp_path, capsys):
    net = difflogic_net(seed=6)
    torch.save(net, tmp_path / "net.pt")
    out = tmp_path / "model.pt"
    args = ["import", "--from", "difflogic", str(tmp_path / "net.pt"), "-o", str(out)]
    assert main(args) == 2
    assert_one_line_error(capsys, "--trust-pickle")
    assert not out.exists()
    assert main(args + ["--trust-pickle"]) == 0
    assert load_model(out).num_gates == 32 + 24 + 12


def assert_one_line_error(capsys, fragment):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lgn-compile: error:"), err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("extra, fragment", [
    ([], "--indices FILE"),                                   # difflogic wiring missing
    (["--indices", "short"], "index pairs given for 3"),      # wiring of the wrong length
    (["--indices", "idx", "--classes", "5"], "not divisible into 5"),
    (["--indices", "idx", "--classes", "3", "--inputs", "4"], "out of range"),
])
def test_cli_bad_import_is_one_line_exit_2_nothing_written(tmp_path, capsys, extra, fragment):
    net = difflogic_net(seed=7)
    state, indices = save_difflogic_files(tmp_path, net)
    torch.save([net[1].indices], tmp_path / "short.pt")
    paths = {"idx": str(indices), "short": str(tmp_path / "short.pt")}
    out = tmp_path / "model.pt"
    assert main(["import", "--from", "difflogic", str(state), "-o", str(out),
                 *[paths.get(arg, arg) for arg in extra]]) == 2
    assert_one_line_error(capsys, fragment)
    assert not out.exists()


HOSTILE = {
    "a tensor": torch.zeros(3),
    "a list": [1, 2, 3],
    "text weights": {"1.weights": "abc", "1.weight": "abc", "1.connections.indices": "x"},
    "NaN weights": {"1.weights": torch.full((4, 16), float("nan")),
                    "1.weight": torch.full((4, 16), float("nan")),
                    "1.connections.indices": torch.zeros(2, 4, dtype=torch.int64)},
    "float wiring": {"1.weights": torch.zeros(4, 16), "1.weight": torch.zeros(4, 16),
                     "1.connections.indices": torch.zeros(2, 4)},
    "empty dict": {},
}


@pytest.mark.parametrize("source", ["difflogic", "torchlogix"])
@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_cli_hostile_inputs_are_one_line_errors(tmp_path, capsys, source, payload):
    torch.save(payload, tmp_path / "in.pt")
    torch.save({"indices": 1}, tmp_path / "idx.pt")
    indices = ["--indices", str(tmp_path / "idx.pt")] if source == "difflogic" else []
    assert main(["import", "--from", source, str(tmp_path / "in.pt"), "-o",
                 str(tmp_path / "m.pt"), "--classes", "2", *indices]) == 2
    assert_one_line_error(capsys, f"error: {source}: " if isinstance(payload, dict)
                          else "expected the trained nn.Module")
    assert not (tmp_path / "m.pt").exists()


# torchlogix --------------------------------------------------------------------------

def msb_first_entries(x, rank):
    """The 2**rank products of x_i or 1 - x_i, entry index with x0 most significant (the
    order of torchlogix's light basis and of its Hadamard matrix)."""
    entries = []
    for j in range(1 << rank):
        term = torch.ones_like(x[:, 0])
        for i in range(rank):
            bit = (j >> (rank - 1 - i)) & 1
            term = term * (x[:, i] if bit else 1 - x[:, i])
        entries.append(term)
    return torch.stack(entries, dim=-1)


class RawLUTParametrization:
    def eval_forward(self, x, weight):
        ops = torch.nn.functional.one_hot(weight.argmax(-1), 16).to(torch.float32)
        return bin_op_s(x[:, 0], x[:, 1], ops)


class LightLUTParametrization:
    def eval_forward(self, x, weight):
        return (msb_first_entries(x, x.shape[1]) * (weight > 0).float()).sum(-1)


class WarpLUTParametrization:
    def eval_forward(self, x, weight):
        """Walsh basis on x in {+1, -1}: product of the operands whose bit is set."""
        rank, signs = x.shape[1], 1 - 2 * x
        basis = torch.stack([
            torch.prod(torch.stack([signs[:, i] if (j >> (rank - 1 - i)) & 1
                                    else torch.ones_like(signs[:, 0]) for i in range(rank)]),
                       dim=0) for j in range(1 << rank)], dim=-1)
        return (-(basis * weight).sum(-1) > 0).float()


class FixedDenseConnections(torch.nn.Module):
    def __init__(self, indices):
        super().__init__()
        self.register_buffer("indices", indices)

    def forward(self, x):
        return x[:, self.indices]  # [batch, rank, out]


class LearnableDenseConnections(torch.nn.Module):
    """Each (operand, gate) slot reads the candidate with the largest weight."""

    def __init__(self, indices, weights):
        super().__init__()
        self.register_buffer("indices", indices)  # [candidates, rank, out]
        self.weights = torch.nn.Parameter(weights)

    def forward(self, x):
        chosen = self.weights.argmax(dim=0)
        operand, gate = torch.arange(chosen.shape[0]).unsqueeze(1), torch.arange(chosen.shape[1])
        return x[:, self.indices[chosen, operand, gate]]


class LogicDense(torch.nn.Module):
    """torchlogix's LogicDense in eval mode (weight, connections.indices, parametrization)."""

    def __init__(self, in_dim, out_dim, parametrization, rank, generator, learnable):
        super().__init__()
        self.in_dim, self.out_dim, self.lut_rank = in_dim, out_dim, rank
        self.parametrization = parametrization
        columns = 16 if isinstance(parametrization, RawLUTParametrization) else 1 << rank
        self.weight = torch.nn.Parameter(torch.randn(out_dim, columns, generator=generator))
        shape = (CANDIDATES, rank, out_dim) if learnable else (rank, out_dim)
        indices = torch.randint(0, in_dim, shape, generator=generator)
        self.connections = LearnableDenseConnections(
            indices, torch.randn(shape, generator=generator)) if learnable \
            else FixedDenseConnections(indices)

    def forward(self, x):
        return self.parametrization.eval_forward(self.connections(x), self.weight)


CANDIDATES = 3  # of learnable connections


def torchlogix_net(layers_module, group_sum, seed=0, num_inputs=10, k=2):
    """Raw (all 16 ops), light rank 4, warp rank 2 and light rank 2 layers (the last with
    learnable connections), GroupSum."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    specs = [(32, "raw", 2, False), (20, "light", 4, False), (16, "warp", 2, False),
             (8, "light", 2, True)]
    layers, in_dim = [], num_inputs
    for out_dim, kind, rank, learnable in specs:
        layers.append(layers_module(in_dim, out_dim, kind, rank, generator, learnable))
        in_dim = out_dim
    with torch.no_grad():  # every op in the raw layer
        layers[0].weight[torch.arange(32), torch.arange(32) % 16] += 10
    return torch.nn.Sequential(torch.nn.Flatten(), *layers, group_sum(k)).eval()


def stand_in_dense(in_dim, out_dim, kind, rank, generator, learnable):
    parametrization = {"raw": RawLUTParametrization, "light": LightLUTParametrization,
                       "warp": WarpLUTParametrization}[kind]()
    return LogicDense(in_dim, out_dim, parametrization, rank, generator, learnable)


@functools.cache
def real_torchlogix_layers():
    """torchlogix.layers, or skip. torchlogix 0.2.2's package __init__ imports circuit.py,
    which needs Python >= 3.12 syntax; its layers do not, so on older Pythons they are
    loaded without running that __init__."""
    spec = importlib.util.find_spec("torchlogix")
    if spec is None:
        pytest.skip("torchlogix is not installed (pip install --no-deps torchlogix)")
    try:
        return importlib.import_module("torchlogix.layers")
    except SyntaxError:
        package = types.ModuleType("torchlogix")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["torchlogix"] = package
        return importlib.import_module("torchlogix.layers")


def real_dense(in_dim, out_dim, kind, rank, generator, learnable):
    layer = real_torchlogix_layers().LogicDense(
        in_dim, out_dim, lut_rank=rank, parametrization=kind,
        connections="learnable" if learnable else "fixed",
        connections_kwargs={"num_candidates": CANDIDATES} if learnable else None)
    with torch.no_grad():
        for weights in (layer.weight, getattr(layer.connections, "weights", None)):
            if weights is not None:
                weights.copy_(torch.randn(weights.shape, generator=generator))
    return layer


@pytest.mark.parametrize("library", ["stand-in", "real"])
def test_torchlogix_net_compiles_to_its_own_forward(tmp_path, library):
    if library == "real":
        group_sum = lambda k: real_torchlogix_layers().GroupSum(k, tau=3.0, beta=0.5)
        net = torchlogix_net(real_dense, group_sum)
    else:
        net = torchlogix_net(stand_in_dense, lambda k: GroupSum(k, tau=3.0, beta=0.5))
    model_dict = lgn_compile.from_torchlogix(net)
    assert [cfg["arity"] for cfg in model_dict["config"]["layers"]] == [2, 4, 2, 2]
    bits = random_input_bits(2, 300, 10)
    scores = compile_and_check(model_dict, tmp_path, bits)
    np.testing.assert_array_equal(scores, library_scores(net, net[-1], bits))


def test_torchlogix_state_dict_needs_only_what_it_lacks(tmp_path):
    net = torchlogix_net(stand_in_dense, lambda k: GroupSum(k, tau=3.0))
    from_module = lgn_compile.from_torchlogix(net)
    with pytest.raises(LgnError, match="light or warp"):
        lgn_compile.from_torchlogix(net.state_dict(), num_classes=2)
    raw_only = {key: value for key, value in net.state_dict().items() if key.startswith("1.")}
    imported = lgn_compile.from_torchlogix(raw_only, num_classes=2)
    assert torch.equal(imported["discrete"]["tables"][0], from_module["discrete"]["tables"][0])
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    for kinds, same in (("raw,light,warp,light", True), ("light", False)):
        out = tmp_path / f"{same}.pt"
        assert main(["import", "--from", "torchlogix", str(tmp_path / "sd.pt"), "-o",
                     str(out), "--classes", "2", "--tau", "3", "--inputs", "10",
                     "--parametrization", kinds]) == 0
        # read as light, the warp layer (2) is another function: the name matters
        assert (load_model(out).layers[2].tables.tolist()
                == from_module["discrete"]["tables"][2].tolist()) == same


def test_every_difflogic_op_matches_its_published_formula():
    """Our one conversion (through op_weights_to_tables) agrees with bin_op on all inputs."""
    from lgn_compile.importers.common import op_weights_to_tables

    tables = op_weights_to_tables(torch.eye(16), "ops")
    for op in range(16):
        for a in (0, 1):
            for b in (0, 1):
                expected = bin_op(torch.tensor(float(a)), torch.tensor(float(b)), op)
                assert tables[op][a + 2 * b] == int(expected), (op, a, b)

