"""AIGER ASCII (.aag): every gate's table becomes AND/inverter nodes by Shannon expansion.

Variable 0 is constant false, inputs are variables 1..I, AND nodes follow in creation
order (children first, as AIGER requires). Identical AND nodes are shared (a local
structural hash), and the symbol table names the ports x[i] and y[j].
"""

from __future__ import annotations

import networkx as nx

from lgn_compile import ir
from lgn_compile.gates import full_mask

FALSE_LITERAL, TRUE_LITERAL = 0, 1


class _AigBuilder:
    def __init__(self, num_inputs: int):
        self.num_inputs = num_inputs
        self.ands: list[tuple[int, int, int]] = []  # (lhs, rhs0, rhs1) literals
        self.existing: dict[tuple[int, int], int] = {}

    def and_(self, a: int, b: int) -> int:
        a, b = min(a, b), max(a, b)
        if a == FALSE_LITERAL or a == b ^ 1:
            return FALSE_LITERAL
        if a == TRUE_LITERAL or a == b:
            return b
        if (a, b) not in self.existing:
            lhs = 2 * (self.num_inputs + len(self.ands) + 1)
            self.ands.append((lhs, b, a))
            self.existing[a, b] = lhs
        return self.existing[a, b]

    def table(self, table: int, literals: list[int]) -> int:
        """Literal computing `table` of the given operand literals (mux on the last one)."""
        arity = len(literals)
        if table == 0:
            return FALSE_LITERAL
        if table == full_mask(arity):
            return TRUE_LITERAL
        half = 1 << (arity - 1)
        low, high = table & ((1 << half) - 1), table >> half
        select = literals[-1]
        low_lit, high_lit = self.table(low, literals[:-1]), self.table(high, literals[:-1])
        if low_lit == high_lit:
            return low_lit
        # select ? high : low  ==  ~(~(select & high) & ~(~select & low))
        return self.and_(self.and_(select, high_lit) ^ 1, self.and_(select ^ 1, low_lit) ^ 1) ^ 1


def export_aiger(g: nx.DiGraph) -> dict[str, str]:
    name = g.graph["name"]
    num_inputs = g.graph["num_inputs"]
    aig = _AigBuilder(num_inputs)
    literal = {}
    for node, attrs in g.nodes(data=True):
        if attrs["kind"] == ir.INPUT:
            literal[node] = 2 * (attrs["index"] + 1)
        elif attrs["kind"] == ir.CONST:
            literal[node] = TRUE_LITERAL if attrs["value"] else FALSE_LITERAL
    for node in ir.topological_gates(g):
        attrs = g.nodes[node]
        literal[node] = aig.table(attrs["table"], [literal[op] for op in attrs["operands"]])
    outputs = [literal[ir.operands(g, out)[0]] for out in ir.outputs(g)]
    max_var = num_inputs + len(aig.ands)
    lines = [f"aag {max_var} {num_inputs} 0 {len(outputs)} {len(aig.ands)}"]
    lines += [str(2 * (i + 1)) for i in range(num_inputs)]
    lines += [str(lit) for lit in outputs]
    lines += [f"{lhs} {rhs0} {rhs1}" for lhs, rhs0, rhs1 in aig.ands]
    lines += [f"i{i} x[{i}]" for i in range(num_inputs)]
    lines += [f"o{j} y[{j}]" for j in range(len(outputs))]
    lines += ["c", f"{name}: exported by lgn-compile (class = output // {g.graph['group_size']})"]
    return {f"{name}.aag": "\n".join(lines) + "\n"}
