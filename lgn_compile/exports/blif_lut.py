"""The LUT-mapped netlist as BLIF (`blif-lut4`, `blif-lut6`): one `.names` cover per LUT.

techmap.lut_map covers the gates with K-input LUTs; the mapping's netlist, an IR with one
gate per LUT, is written by the plain BLIF export, so inputs, outputs and names follow it.
"""

from __future__ import annotations

from functools import partial

import networkx as nx

from lgn_compile.exports.blif import export_blif
from lgn_compile.techmap import lut_map


def export_blif_lut(g: nx.DiGraph, k: int) -> dict[str, str]:
    (text,) = export_blif(lut_map(g, k).to_ir()).values()
    return {f"{g.graph['name']}.lut{k}.blif": text}


LUT_EXPORTS = {f"blif-lut{k}": partial(export_blif_lut, k=k) for k in (4, 6)}
