"""`<name>_features.v` (`--feature-bits W.F`): the network behind comparators on raw features.

A feature arrives as an unsigned fixed-point number: W bits Q holding the value Q * 2**-F.
Its reference meaning is the model's encoder (`model_file.Encoder.encode`): the value, as
float32, compared with each float32 threshold. Each comparator is exactly that reference on
every one of the 2**W codes: its bound is the smallest code the encoder sets the bit for,
found by bisection over the codes with the encoder's own float arithmetic (no conversion
of a threshold to fixed point that could overflow or round the wrong way).
"""

from __future__ import annotations

import re

import networkx as nx
import numpy as np

from lgn_compile import __version__
from lgn_compile.backends import render
from lgn_compile.backends.verilog import index_width, score_width
from lgn_compile.errors import LgnError
from lgn_compile.verify.simulate import Ports

MAX_FEATURE_BITS = 64  # codes are bisected as uint64


def parse_feature_bits(spec: str) -> tuple[int, int]:
    """"W" or "W.F" -> (W total bits, F fractional bits) of an unsigned fixed-point feature."""
    match = re.fullmatch(r"(\d{1,3})(?:\.(\d{1,3}))?", spec.strip())
    bits, frac = (int(match[1]), int(match[2] or 0)) if match else (0, 0)
    if not match or not 1 <= bits <= MAX_FEATURE_BITS or frac > bits:
        raise LgnError(f"--feature-bits wants W or W.F (unsigned fixed point, 1 <= W <= "
                       f"{MAX_FEATURE_BITS}, F <= W fractional bits), not {spec!r}")
    return bits, frac


def code_values(codes, frac: int) -> np.ndarray:
    """The feature values fixed-point codes stand for, as the encoder reads them (float32)."""
    codes = np.asarray(codes, dtype=np.uint64)
    return (codes.astype(np.float64) * 2.0 ** -frac).astype(np.float32)


def first_set_codes(thresholds, bits: int, frac: int) -> np.ndarray:
    """Per threshold, the smallest W-bit code whose value the encoder finds > threshold,
    or 2**W (as an object array of Python ints) when no code is.

    The encoder's test is monotone in the code (value > t for every larger code once it
    holds), so bisection over [0, 2**W - 1] finds the exact boundary in W + 1 steps.
    """
    t = np.asarray(thresholds, dtype=np.float32)
    if np.isnan(t).any():
        raise LgnError("the model's encoder has a NaN threshold; no comparator can match it")
    top = np.full(t.shape, (1 << bits) - 1, dtype=np.uint64)
    reached = code_values(top, frac) > t
    lo, hi = np.zeros(t.shape, dtype=np.uint64), top.copy()
    for _ in range(bits + 1):
        mid = lo + (hi - lo) // np.uint64(2)
        holds = code_values(mid, frac) > t
        hi = np.where(holds, mid, hi)
        lo = np.where(holds, lo, mid + np.uint64(1))
    bounds = hi.astype(object)
    bounds[~reached] = 1 << bits
    return bounds


def feature_comparators(thresholds, bits: int, frac: int) -> tuple[list[list[tuple[int, str]]],
                                                                   list[str]]:
    """Per feature, (input bit, expression) of each threshold, and the features never read.

    A bound of 0 always holds (`1'b1`), one of 2**W never does (`1'b0`).
    """
    thresholds = np.asarray(thresholds, dtype=np.float32)
    num_thresholds = thresholds.shape[1]
    bounds = first_set_codes(thresholds, bits, frac)
    comparators, unused = [], []
    for f, row in enumerate(bounds.tolist()):
        feature = f"features[{(f + 1) * bits - 1}:{f * bits}]" if bits > 1 else f"features[{f}]"
        exprs = [(f * num_thresholds + t,
                  "1'b1" if bound == 0 else "1'b0" if bound == 1 << bits
                  else f"{feature} >= {bits}'d{bound}") for t, bound in enumerate(row)]
        if all(expression.startswith("1'b") for _, expression in exprs):
            unused.append(feature)
        comparators.append(exprs)
    return comparators, unused


def feature_encoder(g: nx.DiGraph, spec: str, latency: int, reset: str) -> dict[str, str]:
    """`<name>_features.v`: comparators on fixed-point features in front of the network."""
    encoder = g.graph.get("encoder")
    if encoder is None:
        raise LgnError("--feature-bits needs a model with an encoder (thresholds); this one "
                       "takes encoded input bits only")
    bits, frac = parse_feature_bits(spec)
    name = g.graph["name"]
    comparators, unused = feature_comparators(encoder.thresholds, bits, frac)
    num_classes = g.graph["num_classes"]
    ports = Ports(g.graph["num_inputs"], num_classes, score_width(g.graph["group_size"]),
                  index_width(num_classes), latency, reset)
    source = render("verilog_features.v.j2", name=name, version=__version__, bits=bits,
                    frac=frac, thresholds=encoder.thresholds.shape[1],
                    num_features=len(comparators), comparators=comparators, unused=unused,
                    ports=ports, latency=latency, reset=reset, value_range=encoder.value_range)
    return {f"{name}_features.v": source}


