"""Python backend: a standalone numpy module, bit-parallel over the batch (64 samples a word)."""

from __future__ import annotations

import functools

import networkx as nx

from lgn_compile import __version__, ir
from lgn_compile.backends import gate_lines, model_summary, output_drivers, render


def _spell(nodes: dict[int, dict], node: int) -> str:
    """How the module names a node (`nodes`: ir.node_attrs of the graph)."""
    attrs = nodes[node]
    if attrs["kind"] == ir.INPUT:
        return f"x[{attrs['index']}]"
    if attrs["kind"] == ir.CONST:
        return "ones" if attrs["value"] else "zero"
    return f"g{node}"


def emit_python(g: nx.DiGraph) -> dict[str, str]:
    """File name -> contents."""
    spell = functools.partial(_spell, ir.node_attrs(g))
    encoder = g.graph["encoder"]
    source = render(
        "python.py.j2", s=model_summary(g), version=__version__,
        lines=gate_lines(g, spell, lambda v: "ones" if v else "zero"),
        drivers=output_drivers(g, spell),
        thresholds=None if encoder is None else encoder.thresholds.tolist(),
        threshold_range=None if encoder is None else encoder.value_range,
    )
    return {f"{g.graph['name']}.py": source}
