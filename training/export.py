"""Export a trained LogicNet to the model-file dict, and rebuild a LogicNet from a model file.

The format is owned by `lgn_compile.model_file` (see its docstring); this module only fills
it in. `model_from_file` builds the net from the file's `discrete` section (tables +
wiring), so it reproduces the stored discretized network for any valid model file,
whichever parametrization (or tool) produced it.
"""

from __future__ import annotations

import os

import torch

from lgn_compile import __version__
from lgn_compile.errors import LgnError
from lgn_compile.model_file import (FORMAT, VERSION, Model, load_model, model_from_dict,
                                    read_torch_file)

from .conv import ConvLogicNet, block_from_config
from .data import ThermometerEncoder
from .layers import GroupSum, LogicLayer, LogicNet

CREATED_BY = f"lgn-train {__version__}"


def model_to_dict(net: LogicNet, encoder: ThermometerEncoder | None, meta: dict | None = None,
                  name: str | None = None) -> dict:
    """The model-file dict of `net` (accepted by `lgn_compile.model_file.save_model`).

    The `discrete` section is `net.unrolled()` (a conv net's blocks unrolled into gate
    layers; `config.arch` then describes the blocks, `config.layers` the unrolled layers).

    Args:
        net: the trained net (any device; tensors are copied to the CPU).
        encoder: the fitted input encoder, or None when the net reads raw bits.
        meta: plain-typed extras, e.g. {"dataset": "digits", "seed": 0, "accuracy": {...}};
            "created_by" and "dataset" get defaults.
        name: identifier used for emitted modules; default "<dataset>_lgn".
    """
    net = as_logic_net(net)
    meta = dict(meta or {})
    meta.setdefault("dataset", "unknown")
    meta.setdefault("created_by", CREATED_BY)
    if name is None:
        name = "".join(c if c.isalnum() else "_" for c in str(meta["dataset"])) + "_lgn"
        if not name.isidentifier():
            name = "lgn_" + name
    if encoder is not None and encoder.num_bits != net.num_inputs:
        raise LgnError(f"encoder gives {encoder.num_bits} bits but the net has "
                       f"{net.num_inputs} inputs")
    unrolled = net.unrolled()
    operands, tables, layers = ([entry[i] for entry in unrolled] for i in range(3))
    state_dict = {key: value.detach().cpu().clone() for key, value in net.state_dict().items()}
    if encoder is not None:
        state_dict["encoder.thresholds"] = torch.from_numpy(encoder.thresholds.copy())
    config = {"name": name, "num_inputs": net.num_inputs, "num_classes": net.num_classes,
              "tau": float(net.tau), "layers": layers,
              "encoder": None if encoder is None else encoder.config()}
    if net.arch_config() is not None:  # a conv net: `layers` are its unrolled layers
        config["arch"] = net.arch_config()
    return {"format": FORMAT, "version": VERSION, "config": config, "state_dict": state_dict,
            "discrete": {"operands": operands, "tables": tables}, "meta": meta}


def as_logic_net(net) -> LogicNet:
    """`net` as a LogicNet: one already, or an nn.Sequential of LogicLayers ending in a
    GroupSum (torch's Flatten/Identity and nested Sequentials stepped over)."""
    if isinstance(net, LogicNet):
        return net
    if not isinstance(net, torch.nn.Sequential):
        raise LgnError(f"expected a LogicNet or an nn.Sequential of LogicLayers and a "
                       f"GroupSum, got {type(net).__name__}")
    modules = [module for module in net.modules() if not isinstance(
        module, (torch.nn.Sequential, torch.nn.Flatten, torch.nn.Identity))]
    layers, head = modules[:-1], (modules[-1] if modules else None)
    if not isinstance(head, GroupSum) or not layers or \
            not all(isinstance(layer, LogicLayer) for layer in layers):
        kinds = ", ".join(type(module).__name__ for module in modules)
        raise LgnError(f"an nn.Sequential to export must be dense LogicLayers then a GroupSum "
                       f"(a conv net: build a ConvLogicNet), got {kinds or 'nothing'}")
    try:
        return LogicNet.from_layers(layers[0].in_dim, layers, head.num_classes, head.tau)
    except ValueError as exc:
        raise LgnError(f"the nn.Sequential's layers do not chain: {exc}") from None


def model_from_file(model: Model | str | os.PathLike) -> LogicNet:
    """A LogicNet (eval mode, CPU) whose discrete forward is exactly the stored network.

    `model` is a loaded `Model` or a path to a model file. Every layer is built from the
    file's `discrete` tables and operands: 2-input layers as softmax16 gates whose winning
    logit is the stored gate, other arities as input-wise (iwp) tables.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    layers, in_dim = [], model.num_inputs
    for i, (cfg, discrete) in enumerate(zip(model.config["layers"], model.layers)):
        out_dim, arity = discrete.tables.shape[0], discrete.arity
        parametrization = ("softmax16" if arity == 2 and cfg.get("parametrization") != "iwp"
                           else "iwp")
        layer = LogicLayer(in_dim, out_dim, parametrization, "random", seed=i, init="uniform",
                           arity=arity)
        layer.set_tables(discrete.tables, discrete.operands)
        layers.append(layer)
        in_dim = out_dim
    net = LogicNet.from_layers(model.num_inputs, layers, model.num_classes,
                               float(model.config.get("tau", 1.0)))
    return net.eval()


def load_checkpoint(path) -> dict:
    """A checkpoint written by `lgn-train --checkpoint`: the raw dict (a valid model file,
    checked by `load_model`, plus "training_state" for `train(resume=...)`)."""
    raw = read_torch_file(path, "checkpoint")  # bounded, weights_only
    try:
        model_from_dict(raw)  # validates the model part, with clear errors
    except LgnError as exc:
        raise LgnError(f"{path}: {exc}") from exc
    state = raw.get("training_state")
    if not isinstance(state, dict) or not isinstance(state.get("args"), dict):
        raise LgnError(f"{path}: a model file but not a training checkpoint (no training "
                       "state; write one with lgn-train --checkpoint)")
    return raw


def net_from_config(config: dict, state_dict: dict) -> LogicNet:
    """The trainable net a model file (or checkpoint) was exported from, e.g. to resume
    training: a conv net from `config["arch"]`, else a dense net from `config["layers"]`
    (as written by `LogicLayer.config`); then `state_dict` loaded (parameters and wiring)."""
    weights = {k: v for k, v in state_dict.items() if not str(k).startswith("encoder.")}
    net = _net_from_config(config, state_dict)
    expected = net.state_dict()
    missing = sorted(expected.keys() - weights.keys())
    unexpected = sorted(map(str, weights.keys() - expected.keys()))
    misshapen = sorted(key for key in expected.keys() & weights.keys()
                       if getattr(weights[key], "shape", None) != expected[key].shape)
    if missing or unexpected or misshapen:
        raise LgnError(f"the state_dict does not fit the config (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]}, wrong shape {misshapen[:3]})")
    net.load_state_dict(weights)
    return net


def _net_from_config(config: dict, state_dict: dict) -> LogicNet:
    try:
        if "arch" in config:
            _check_arch_size(config, state_dict)
            return ConvLogicNet.from_config(config)
        _check_wiring_size(config, state_dict)
        layers = [block_from_config(cfg, seed=i) for i, cfg in enumerate(config["layers"])]
        return LogicNet.from_layers(config["num_inputs"], layers, config["num_classes"],
                                    float(config.get("tau", 1.0)))
    except (KeyError, TypeError, ValueError) as exc:  # a config lgn-train did not write
        reason = (str(exc).splitlines() or [""])[0][:200]
        raise LgnError(f"the config does not describe a trainable net "
                       f"({type(exc).__name__}: {reason})") from None


def _check_arch_size(config: dict, state_dict: dict) -> None:
    """A conv net's blocks allocate by their settings, which the model file's own checks do
    not cover: bound them by the parameters and inputs the file holds (each of a conv
    channel's 2**depth - 1 tree gates has a stored parameter at least)."""
    arch = config["arch"]
    held = sum(value.numel() for value in state_dict.values() if isinstance(value, torch.Tensor))
    channels, height, width = (int(v) for v in arch["image_shape"])
    if channels * height * width * int(arch["num_thresholds"]) != config["num_inputs"]:
        raise LgnError("config.arch's image and thresholds do not match config.num_inputs")
    for block in arch["blocks"]:
        if block.get("type") != "conv":
            continue
        trees = int(block["out_channels"]) * ((1 << min(int(block["depth"]), 40)) - 1)
        window = int(block["kernel_size"]) - 2 * int(block["padding"])
        if trees > held or window > max(height, width) or \
                int(block["in_channels"]) > config["num_inputs"]:
            raise LgnError(f"config.arch block {block} is larger than the network it "
                           "unrolls to")


def _check_wiring_size(config: dict, state_dict: dict) -> None:
    """A learnable layer allocates [arity, out_dim, candidates] connection logits before the
    state_dict is checked against it: refuse a config whose logits the file cannot hold."""
    held = sum(value.numel() for value in state_dict.values() if isinstance(value, torch.Tensor))
    for i, cfg in enumerate(config["layers"]):
        if cfg.get("connections") != "learnable":
            continue
        in_dim, candidates = int(cfg["in_dim"]), int(cfg.get("candidates", 0))
        size = in_dim if candidates <= 0 or candidates >= in_dim else candidates
        if int(cfg["arity"]) * int(cfg["out_dim"]) * size > held:
            raise LgnError(f"config layer {i}'s learnable wiring ({candidates} candidates) is "
                           "larger than the parameters the file holds")


def encoder_from_file(model: Model) -> ThermometerEncoder | None:
    """The model's thermometer encoder as a ThermometerEncoder (None if it has none)."""
    if model.encoder is None:
        return None
    thresholds = model.encoder.thresholds
    method = model.config["encoder"].get("method", "uniform")
    return ThermometerEncoder(thresholds.shape[1], thresholds, method=method)
