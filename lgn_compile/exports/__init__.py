"""Exports of the optimized netlist for other tools: BLIF, AIGER (ASCII) and Graphviz DOT.

Each export is the combinational network from the input bits `x[i]` to the output bits
`y[j]` (output j belongs to class j // group_size; the class score is a popcount the
consumer adds itself). Like backends, an export is `export(ir) -> {file name: text}`.
"""

from __future__ import annotations

from lgn_compile.exports.aiger import export_aiger
from lgn_compile.exports.blif import export_blif
from lgn_compile.exports.blif_lut import LUT_EXPORTS
from lgn_compile.exports.dot import export_dot

EXPORTS = {"blif": export_blif, "aiger": export_aiger, "dot": export_dot, **LUT_EXPORTS}
