"""Convolutional logic gate networks (Petersen et al. 2024, "Convolutional Differentiable
Logic Gate Networks"): logic-tree convolutions, OR pooling, and the net that chains them
with dense logic layers and GroupSum.

Images are [N, C, H, W] tensors of values in [0, 1] (bits in eval mode). A net reads the
encoder's input bits (bit `f*T + t` for pixel feature f = (c*H + y)*W + x and threshold t)
as the image [N, C*T, H, W]: channel c*T + t is "pixel value of color c > threshold t".

- `LogicConv2d`: each output channel is a binary (or `arity`-ary) tree of learned gates of
  `depth` levels whose `arity**depth` leaves are positions of the k x k receptive field in
  `channels_per_tree` input channels, drawn at random at init (the paper draws from 2
  channels); the tree's gates are shared by every position. Each level is a `LogicLayer`
  applied to all positions at once, so every parametrization, sampling mode and init of
  the dense layers works unchanged. Padding reads constant 0 bits.
- `OrPool2d`: OR over each window of bits. Relaxed as max pooling (as in the paper): it is
  exactly OR on bits, and unlike the probabilistic OR 1 - prod(1 - x) it does not
  saturate towards 1 over a window of many half-on values.
- `Flatten`: [N, C, H, W] -> [N, C*H*W] in (c, y, x) order, for the dense layers.

Export (`unroll`): the model file has no weight sharing, so a conv block becomes one dense
layer per tree level with one gate per (tree gate, position), ordered (gate, y, x); an OR
pool becomes one layer of k*k-input OR gates. The discrete format has no constant inputs:
a gate operand that reads padding is folded into the gate's table (the table is
cofactored at operand = 0, so the operand no longer matters) and the operand is pointed at
one of the gate's real operands; gates left constant are then removed by the compiler's
passes.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from torch.nn import functional as F

from lgn_compile.gates import MAX_ARITY

from .layers import GateBlock, GroupSum, LogicLayer, LogicNet, layer_options_at

DENSE_ONLY_OPTIONS = ("candidates", "candidate_group")  # a tree's window is its candidates
GATE_OPTIONS = ("parametrization", "arity", "init", "init_strength", "activation", "sampling",
                "gumbel_tau")


def tree_fields(in_channels: int, out_channels: int, kernel_size: int, leaves: int,
                channels_per_tree: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fields int64 [out_channels, picked channels * k*k], slots int64 [out_channels,
    leaves]): each tree's window, the k x k field of `channels_per_tree` random input
    channels as receptive-field indices c*k*k + dy*k + dx (the order of `F.unfold` and of a
    conv2d weight), and its leaves as slots of that window; distinct while the window has
    enough positions, else a shuffled cover."""
    gen = torch.Generator().manual_seed(seed)
    window = kernel_size * kernel_size
    picks = min(channels_per_tree, in_channels)
    fields, slots = [], []
    for _ in range(out_channels):
        channels = torch.randperm(in_channels, generator=gen)[:picks]
        fields.append((channels[:, None] * window + torch.arange(window)).reshape(-1))
        slots.append(torch.randperm(max(leaves, len(fields[-1])), generator=gen)[:leaves]
                     % len(fields[-1]))
    return torch.stack(fields), torch.stack(slots)


def tree_leaves(in_channels: int, out_channels: int, kernel_size: int, leaves: int,
                channels_per_tree: int, seed: int) -> torch.Tensor:
    """int64 [out_channels, leaves]: each tree's leaves as receptive-field indices (see
    `tree_fields`)."""
    fields, slots = tree_fields(in_channels, out_channels, kernel_size, leaves,
                                channels_per_tree, seed)
    return fields.gather(1, slots)


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _image_shape(shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"a conv or pool block needs an image [C, H, W] input, got {shape}")
    return tuple(shape)


class LogicConv2d(GateBlock):
    """`out_channels` logic trees over k x k receptive fields, shared across positions.

    Args:
        in_channels, out_channels: image channels in and out.
        kernel_size, stride, padding: as `nn.Conv2d` (square); padding reads 0 bits.
        depth: tree levels; a tree has arity**depth leaves and (arity**depth - 1) /
            (arity - 1) gates.
        channels_per_tree: input channels a tree's leaves are drawn from.
        seed: seed of the leaves, and of each level's init noise.
        parametrization, arity, init, init_strength, activation, sampling, gumbel_tau:
            as `LogicLayer`, for every gate of every tree.
        connections: "random" (leaves fixed at init) or "learnable": each leaf operand
            picks its position in the tree's window (the k x k field of its
            `channels_per_tree` channels) by a learned softmax, starting at the random leaf
            (LogicLayer's learnable wiring on level 0); relaxed, all leaves are one conv2d
            with the (straight-through one-hot, or softmax) weights.
        connection_strength, connection_relax: as `LogicLayer`, for the learnable leaves.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 0, depth: int = 3, channels_per_tree: int = 2,
                 seed: int = 0, parametrization: str = "softmax16", arity: int = 2,
                 init: str = "residual", init_strength: float | None = None,
                 activation: str = "sin", sampling: str = "soft", gumbel_tau: float = 1.0,
                 connections: str = "random", connection_strength: float = 2.0,
                 connection_relax: str = "hard"):
        super().__init__()
        if connections not in ("random", "learnable"):
            raise ValueError(f"conv leaves are random or learnable, got {connections!r}")
        sizes = {"in_channels": in_channels, "out_channels": out_channels,
                 "kernel_size": kernel_size, "stride": stride, "depth": depth,
                 "channels_per_tree": channels_per_tree}
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if not 0 <= padding < kernel_size:
            raise ValueError(f"padding must be in 0..{kernel_size - 1}, got {padding}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.channels_per_tree, self.seed, self.sampling = channels_per_tree, seed, sampling
        field = in_channels * kernel_size * kernel_size
        window = min(channels_per_tree, in_channels) * kernel_size * kernel_size
        widths = [field] + [out_channels * arity ** (depth - 1 - level) for level in range(depth)]
        self.levels = nn.ModuleList(
            LogicLayer(widths[level], widths[level + 1], parametrization,
                       connections if level == 0 else "random", seed=seed * 64 + level,
                       init=init, arity=arity, init_strength=init_strength,
                       activation=activation, sampling=sampling, gumbel_tau=gumbel_tau,
                       candidates=window, candidate_group=1,
                       connection_strength=connection_strength,
                       connection_relax=connection_relax)
            for level in range(depth))
        self.reset_parameters()

    @property
    def arity(self) -> int:
        return self.levels[0].arity

    def reset_parameters(self) -> None:
        """Fresh leaves and gates from `seed`: level 0's gate (o, g) reads leaves
        g*arity .. g*arity + arity - 1 of tree o; level l's gate (o, g) reads gates
        g*arity .. of tree o in level l - 1 (gates are numbered o * gates_per_tree + g)."""
        arity = self.arity
        fields, slots = tree_fields(self.in_channels, self.out_channels, self.kernel_size,
                                    arity ** self.depth, self.channels_per_tree, self.seed)
        leaves = fields.gather(1, slots)
        with torch.no_grad():
            for level, layer in enumerate(self.levels):
                layer.reset_parameters()
                wiring = leaves.reshape(-1) if level == 0 else torch.arange(layer.in_dim)
                if not layer.learnable:
                    layer.indices.copy_(wiring.reshape(layer.out_dim, arity).t())
                elif layer.candidate_index.shape[1] == 1:  # the window is the whole field
                    layer.set_candidates(
                        torch.arange(layer.in_dim).expand(arity, 1, -1),
                        wiring.reshape(layer.out_dim, arity).t().unsqueeze(1))
                else:  # one candidate set per gate: its tree's window
                    per_gate = arity ** (self.depth - 1)
                    layer.set_candidates(
                        fields.repeat_interleave(per_gate, 0).expand(arity, -1, -1),
                        slots.reshape(layer.out_dim, arity).t().unsqueeze(-1))

    def config(self) -> dict:
        """Plain-typed settings that rebuild this block (an entry of `config.arch`)."""
        gates = {k: v for k, v in self.levels[0].config().items() if k in GATE_OPTIONS}
        if self.levels[0].learnable:
            gates.update(connections="learnable",
                         connection_strength=self.levels[0].connection_strength,
                         connection_relax=self.levels[0].connection_relax)
        return {"type": "conv", "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "depth": self.depth,
                "channels_per_tree": self.channels_per_tree, **gates}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")

    def out_shape(self, shape) -> tuple[int, int, int]:
        channels, height, width = _image_shape(shape)
        if channels != self.in_channels:
            raise ValueError(f"conv block reads {self.in_channels} channels, but {channels} "
                             "come in")
        out = tuple(_out_size(s, self.kernel_size, self.stride, self.padding)
                    for s in (height, width))
        if min(out) < 1:
            raise ValueError(f"a {self.kernel_size}x{self.kernel_size} conv does not fit a "
                             f"{height}x{width} image")
        return (self.out_channels, *out)

    def gate_counts(self, shape) -> list[int]:
        """Gates of each unrolled level on an input of `shape`."""
        _, height, width = self.out_shape(shape)
        return [layer.out_dim * height * width for layer in self.levels]

    # forward ------------------------------------------------------------------------------
    def _leaf_operands(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """[N, C, H, W] -> level 0's operands: `arity` tensors [N, positions, gates], read
        straight from the (zero-padded) image with one gather."""
        k, stride, pad = self.kernel_size, self.stride, self.padding
        padded = F.pad(x, (pad,) * 4) if pad else x
        rows, cols = padded.shape[-2:]
        height, width = self.out_shape(x.shape[1:])[1:]
        leaves = self.levels[0].wiring().t()  # [gates, arity]: c*k*k + dy*k + dx
        leaf = (leaves // (k * k) * rows + leaves % (k * k) // k) * cols + leaves % k
        device = leaves.device
        position = ((torch.arange(height, device=device) * stride * cols)[:, None]
                    + torch.arange(width, device=device) * stride).reshape(-1)
        index = (position[:, None, None] + leaf).reshape(-1)
        gathered = padded.reshape(len(x), -1).index_select(1, index)
        return gathered.reshape(len(x), len(position), *leaves.shape).unbind(-1)

    def _mixed_leaf_operands(self, x: torch.Tensor, sample: bool) -> tuple[torch.Tensor, ...]:
        """Learnable leaves, relaxed: level 0's operands as `_leaf_operands` gives them, each
        the mixture of its window by the connection weights, as one conv2d."""
        level = self.levels[0]
        probs = level.connection_weights(sample)  # [arity, blocks, group, size]
        arity, blocks, group, size = probs.shape
        index = level.candidate_index.unsqueeze(2).expand(-1, -1, group, -1)
        weight = probs.new_zeros(arity, blocks, group, level.in_dim).scatter_add(3, index, probs)
        weight = weight.reshape(arity, blocks * group, -1)[:, :level.out_dim]
        k = self.kernel_size
        out = F.conv2d(x, weight.reshape(-1, self.in_channels, k, k), stride=self.stride,
                       padding=self.padding)  # [N, arity * gates, H', W']
        return out.reshape(len(x), arity, level.out_dim, -1).permute(1, 0, 3, 2).unbind(0)

    def _trees(self, x: torch.Tensor, gates, leaves=None) -> torch.Tensor:
        """Image [N, C, H, W] -> [N, out_channels, H', W'], each level computed by
        `gates(level, operands)` (level 0's operands: `leaves`, default `_leaf_operands(x)`);
        level l's gate g reads gates g*arity.. of level l - 1."""
        y = gates(self.levels[0], self._leaf_operands(x) if leaves is None else leaves)
        for layer in self.levels[1:]:
            y = gates(layer, y.unflatten(-1, (layer.out_dim, self.arity)).unbind(-1))
        return y.transpose(1, 2).reshape(len(x), *self.out_shape(x.shape[1:]))

    def forward_relaxed(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Relaxed (or Gumbel-sampled, one sample per gate shared by all positions) trees."""
        leaves = self._mixed_leaf_operands(x, sample) if self.levels[0].learnable else None
        return self._trees(x, lambda layer, operands: layer.relaxed_gates(operands, sample),
                           leaves)

    def forward_discrete(self, x: torch.Tensor) -> torch.Tensor:
        """Bits [N, C, H, W] -> uint8 bits [N, out_channels, H', W'] of the discrete trees."""
        bits = (x > 0.5 if x.dtype.is_floating_point else x != 0).to(torch.uint8)
        return self._trees(bits, lambda layer, operands: layer.discrete_gates(operands))

    # export -------------------------------------------------------------------------------
    def unroll(self, index_map: torch.Tensor) -> tuple[list, torch.Tensor]:
        """One model-file layer per tree level, gate (g, y, x) at g*H'*W' + y*W' + x;
        `index_map` [C, H, W] gives each input's index among the previous layer's outputs.
        Operands that read padding are folded into the tables (see the module docstring)."""
        channels, height, width = self.out_shape(index_map.shape)
        positions = height * width
        k, arity = self.kernel_size, self.arity
        operands, tables = self.levels[0].discretize()
        ys = torch.arange(height) * self.stride - self.padding
        xs = torch.arange(width) * self.stride - self.padding
        ys = ys[None, :, None, None] + (operands % (k * k) // k)[:, None, None, :]
        xs = xs[None, None, :, None] + (operands % k)[:, None, None, :]
        ys, xs = torch.broadcast_tensors(ys, xs)  # [gates, H', W', arity]
        inside = (ys >= 0) & (ys < index_map.shape[1]) & (xs >= 0) & (xs < index_map.shape[2])
        reads = index_map[(operands // (k * k))[:, None, None, :],
                          ys.clamp(0, index_map.shape[1] - 1), xs.clamp(0, index_map.shape[2] - 1)]
        reads, folded = fold_constant_operands(
            reads, tables[:, None, None, :].expand(*reads.shape[:3], -1), inside)
        layers = [(reads.reshape(-1, arity), folded.reshape(-1, 1 << arity),
                   self._level_config(0, index_map.numel(), positions))]
        for level, layer in enumerate(self.levels[1:], 1):
            operands, tables = layer.discretize()
            reads = operands[:, None, :] * positions + torch.arange(positions)[None, :, None]
            layers.append((reads.reshape(-1, arity), tables.repeat_interleave(positions, 0),
                           self._level_config(level, layers[-1][0].shape[0], positions)))
        return layers, torch.arange(channels * positions).reshape(channels, height, width)

    def _level_config(self, level: int, in_dim: int, positions: int) -> dict:
        layer = self.levels[level]
        return {"type": "logic", "unrolled_from": f"conv level {level}", "in_dim": in_dim,
                "out_dim": layer.out_dim * positions, "arity": layer.arity,
                "parametrization": layer.parametrization}


def fold_constant_operands(operands: torch.Tensor, tables: torch.Tensor,
                           real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gates [..., arity] whose operand i reads a constant 0 where `real[..., i]` is False:
    each such operand is folded into the table (entry j takes entry j with bit i cleared,
    so the gate computes the same function and no longer depends on operand i) and then
    points at the gate's first real operand (any valid index would do; all-padding gates
    keep the index they have and become constant). Returns (operands, uint8 tables)."""
    entries = torch.arange(tables.shape[-1])
    for i in range(operands.shape[-1]):
        tables = torch.where(real[..., i, None], tables, tables[..., entries & ~(1 << i)])
    first_real = operands.gather(-1, real.to(torch.int64).argmax(-1, keepdim=True))
    return torch.where(real, operands, first_real), tables.to(torch.uint8)


class OrPool2d(GateBlock):
    """OR over k x k windows of bits (`stride` defaults to k); relaxed as max pooling.
    Unrolled, each window is one k*k-input OR gate, so k*k must not exceed the model
    file's largest gate arity (k <= 2)."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        super().__init__()
        stride = kernel_size if stride is None else stride
        if not 1 <= kernel_size * kernel_size <= MAX_ARITY or stride < 1:
            raise ValueError(f"OR pooling needs a window of at most {MAX_ARITY} bits and "
                             f"stride >= 1, got kernel {kernel_size}, stride {stride}")
        self.kernel_size, self.stride = kernel_size, stride

    def config(self) -> dict:
        return {"type": "or_pool", "kernel_size": self.kernel_size, "stride": self.stride}

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"

    def out_shape(self, shape) -> tuple[int, int, int]:
        channels, height, width = _image_shape(shape)
        out = tuple(_out_size(s, self.kernel_size, self.stride, 0) for s in (height, width))
        if min(out) < 1:
            raise ValueError(f"a {self.kernel_size}x{self.kernel_size} pool does not fit a "
                             f"{height}x{width} image")
        return (channels, *out)

    def gate_counts(self, shape) -> list[int]:
        return [math.prod(self.out_shape(shape))]

    def forward_relaxed(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def forward_discrete(self, x: torch.Tensor) -> torch.Tensor:
        bits = (x > 0.5 if x.dtype.is_floating_point else x != 0).to(torch.float32)
        return F.max_pool2d(bits, self.kernel_size, self.stride).to(torch.uint8)

    def unroll(self, index_map: torch.Tensor) -> tuple[list, torch.Tensor]:
        """One layer of OR gates, gate (c, y, x) at (c*H' + y)*W' + x, operand dy*k + dx."""
        channels, height, width = self.out_shape(index_map.shape)
        window = torch.arange(self.kernel_size * self.kernel_size)
        ys = (torch.arange(height) * self.stride)[:, None, None] + window // self.kernel_size
        xs = (torch.arange(width) * self.stride)[None, :, None] + window % self.kernel_size
        operands = index_map[:, ys, xs].reshape(-1, len(window))
        table = (torch.arange(1 << len(window)) > 0).to(torch.uint8)
        config = {"type": "logic", "unrolled_from": "or_pool", "in_dim": index_map.numel(),
                  "arity": len(window)}
        return ([(operands, table.expand(len(operands), -1).contiguous(), config)],
                torch.arange(len(operands)).reshape(channels, height, width))


class Flatten(GateBlock):
    """[N, C, H, W] -> [N, C*H*W] in (c, y, x) order; no gates."""

    def config(self) -> dict:
        return {"type": "flatten"}

    def out_shape(self, shape) -> tuple[int]:
        return (math.prod(shape),)

    def gate_counts(self, shape) -> list[int]:
        return []

    def forward_relaxed(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        return x.flatten(1)

    def forward_discrete(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def unroll(self, index_map: torch.Tensor) -> tuple[list, torch.Tensor]:
        return [], index_map.reshape(-1)


BLOCKS = {"conv": LogicConv2d, "or_pool": OrPool2d, "flatten": Flatten, "logic": LogicLayer}


def block_from_config(config: dict, seed: int = 0) -> nn.Module:
    """A block rebuilt from its `config()` (wiring and parameters come from a state_dict)."""
    kind = config.get("type")
    if kind not in BLOCKS:
        raise ValueError(f"unknown block type {kind!r} (choose from {', '.join(BLOCKS)})")
    options = {k: v for k, v in config.items() if k != "type"}
    if kind in ("conv", "logic"):
        options["seed"] = seed
    return BLOCKS[kind](**options)


class ConvLogicNet(LogicNet):
    """Conv and pool blocks over the image of input bits, `Flatten`, dense `LogicLayer`s,
    then GroupSum: `LogicNet`'s interface (relaxed/discrete forward, scores, utilization,
    `unrolled` for the model file), with `layer_sizes` counting the unrolled gates.

    Args:
        image_shape: (C, H, W) of the raw images; the net reads C*H*W*num_thresholds bits.
        num_thresholds: thermometer thresholds per pixel value (T).
        blocks: the blocks in order, ending in flat outputs (see `build`).
    """

    def __init__(self, image_shape, num_thresholds: int, blocks, num_classes: int,
                 tau: float = 1.0):
        nn.Module.__init__(self)
        channels, height, width = (int(s) for s in image_shape)
        self.image_shape, self.num_thresholds = (channels, height, width), int(num_thresholds)
        self.shapes = [(channels * self.num_thresholds, height, width)]
        for block in blocks:
            self.shapes.append(block.out_shape(self.shapes[-1]))
        if len(self.shapes[-1]) != 1 or self.shapes[-1][0] % num_classes:
            raise ValueError(f"the net must end in flat outputs that divide into {num_classes} "
                             f"equal class groups, got {self.shapes[-1]}")
        self.num_inputs, self.num_classes = channels * height * width * num_thresholds, num_classes
        self.layers = nn.ModuleList(blocks)
        if not any(True for _ in self.buffers()):
            raise ValueError("a conv net needs at least one block of learned gates")
        self.group_sum = GroupSum(num_classes, tau)

    @classmethod
    def build(cls, image_shape, num_thresholds: int, conv_blocks: list[dict], layer_sizes,
              num_classes: int, tau: float = 1.0, seed: int = 0, connections: str = "random",
              **gate_options) -> ConvLogicNet:
        """The conv blocks of `parse_conv_spec`, then `Flatten` and dense layers of widths
        `layer_sizes`; block i is seeded with seed * 1000 + i. `gate_options` are
        `LogicLayer`'s (for every gate), `connections` the dense layers' wiring (and with
        "learnable" the conv leaves' too)."""
        shape, blocks = (image_shape[0] * num_thresholds, *image_shape[1:]), []
        for spec in conv_blocks:
            options = {k: v for k, v in spec.items() if k != "type"}
            if spec["type"] == "conv":
                options.update(in_channels=shape[0], seed=seed * 1000 + len(blocks),
                               connections="learnable" if connections == "learnable"
                               else "random", **{k: v for k, v in gate_options.items()
                                                 if k not in DENSE_ONLY_OPTIONS})
            blocks.append(BLOCKS[spec["type"]](**options))
            shape = blocks[-1].out_shape(shape)
        blocks.append(Flatten())
        width = math.prod(shape)
        for i, size in enumerate(layer_sizes):
            blocks.append(LogicLayer(width, int(size), seed=seed * 1000 + len(blocks),
                                     connections=connections,
                                     **layer_options_at(gate_options, i, len(layer_sizes))))
            width = int(size)
        return cls(image_shape, num_thresholds, blocks, num_classes, tau)

    @classmethod
    def from_config(cls, config: dict) -> ConvLogicNet:
        """The net a model file's config describes (`config.arch`), freshly initialized."""
        arch = config["arch"]
        blocks = [block_from_config(cfg, seed=i) for i, cfg in enumerate(arch["blocks"])]
        return cls(arch["image_shape"], arch["num_thresholds"], blocks, config["num_classes"],
                   float(config.get("tau", 1.0)))

    def arch_config(self) -> dict:
        return {"image_shape": list(self.image_shape), "num_thresholds": self.num_thresholds,
                "blocks": [block.config() for block in self.layers]}

    @property
    def layer_sizes(self) -> list[int]:
        return [count for block, shape in zip(self.layers, self.shapes)
                for count in block.gate_counts(shape)]

    def _prepare(self, bits: torch.Tensor) -> torch.Tensor:
        """[N, C*H*W*T] (bit ((c*H + y)*W + x)*T + t) -> [N, C*T, H, W] (channel c*T + t)."""
        channels, height, width = self.image_shape
        image = bits.reshape(len(bits), channels, height, width, self.num_thresholds)
        return image.permute(0, 1, 4, 2, 3).reshape(len(bits), -1, height, width)

    def _input_map(self) -> torch.Tensor:
        return self._prepare(torch.arange(self.num_inputs)[None])[0]


CONV_TOKEN = re.compile(r"c(\d+)((?:[kspdg]\d+)*)")
POOL_TOKEN = re.compile(r"pool(\d*)(?:s(\d+))?")
CONV_KEYS = {"k": "kernel_size", "s": "stride", "p": "padding", "d": "depth",
             "g": "channels_per_tree"}
CONV_DEFAULTS = {"kernel_size": 3, "stride": 1, "padding": 0, "depth": 3,
                 "channels_per_tree": 2}


def parse_conv_spec(text: str) -> list[dict]:
    """'c16k3p1,pool,c32k3p1,pool2' -> block specs for `ConvLogicNet.build`.

    A conv token is c<out channels> followed by any of k<kernel> s<stride> p<padding>
    d<tree depth> g<input channels per tree> (defaults k3 s1 p0 d3 g2); a pool token is
    pool[<k>][s<stride>] (OR pooling, default 2x2, stride k). ValueError if malformed."""
    blocks = []
    for token in (part.strip().lower() for part in text.split(",")):
        conv, pool = CONV_TOKEN.fullmatch(token), POOL_TOKEN.fullmatch(token)
        if conv:
            spec = {"type": "conv", "out_channels": int(conv[1]), **CONV_DEFAULTS}
            spec.update((CONV_KEYS[key], int(value))
                        for key, value in re.findall(r"([kspdg])(\d+)", conv[2]))
        elif pool:
            spec = {"type": "or_pool", "kernel_size": int(pool[1] or 2)}
            if pool[2]:
                spec["stride"] = int(pool[2])
        else:
            raise ValueError(f"bad conv block {token!r} in {text!r} (expected e.g. "
                             "c16k3p1 or pool2)")
        blocks.append(spec)
    return blocks
