"""Technology mapping: the gate IR covered by K-input LUTs (lut_map.py)."""

from lgn_compile.techmap.lut_map import Lut, LutMapping, lut_map

__all__ = ["Lut", "LutMapping", "lut_map"]
