"""LUT-K technology mapping of the gate IR, in the manner of ABC's `if -K` mapper.

    mapping = lut_map(g, k=6)        # LutMapping: luts (root, leaves, table), depth, stages
    mapping.to_ir()                  # the LUT netlist as an IR: one gate per LUT

The mapped network is the gates up to the output bits (the popcount head is not mapped).
Stages, each one a sweep over the nodes in topological order:

1. Subject graph: the IR's gates with constants folded in and repeated or ignored operands
   dropped (gates.simplify); a gate wider than K is split by Shannon expansion into muxes,
   so every node has a cut (its fanins) that fits a LUT.
2. Priority cuts (Mishchenko et al., "Combinational and sequential mapping with priority
   cuts", ICCAD 2007): a node's candidate cuts are the unions of one stored cut per fanin
   (a fanin's own trivial cut included) with at most K leaves; it keeps the C best, by the
   pass's order, that no better candidate's leaves contain. Nodes of one logic level are
   independent, so a level is a handful of numpy operations on [nodes, candidates, K]
   leaf arrays (sort, deduplicate, gather arrival and flow), not a Python loop.
3. Passes: depth (arrival, then area flow), which fixes the depth D; area flow, choosing
   the cheapest cut whose arrival meets the node's required time for depth D; then exact
   local area: per mapped node, the cut whose choice adds the fewest LUTs to the current
   mapping (reference counting the cut's cone), again under the required time. The
   previous pass's best cut is always a candidate, so no pass makes the depth worse.
4. LUT functions: each chosen cut's cone evaluated on K-variable truth tables (Python
   ints); a leaf the function ignores is dropped, and a LUT that turns out to be a wire or
   a constant is folded into its readers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache, partial

import networkx as nx
import numpy as np

from lgn_compile import ir
from lgn_compile.errors import LgnError
from lgn_compile.gates import (
    CONST_OPERANDS,
    IDENTITY,
    full_mask,
    simplify,
    table_expression,
)

MIN_K, MAX_K = 3, 6   # a Shannon split needs a 3-input mux; tables are Python ints <= 64 bits
CUTS = 8              # priority cuts kept per node (ABC's default)
CHUNK = 2048          # nodes per numpy batch: bounds the candidate arrays (~81 per node)
MUX = 0xCA            # operands (else, then, select): select ? then : else
_UNCONSTRAINED = 2**40  # the required time of a node no LUT reads


@dataclass(frozen=True)
class Lut:
    """One K-input LUT: `table` over `leaves` (docs/DESIGN.md encoding, leaf 0 least significant).

    `root` is the IR node it computes; a node the mapper made while splitting a gate wider
    than K gets a fresh id at or above the IR's next_id.
    """

    root: int
    leaves: tuple[int, ...]
    table: int


@dataclass
class LutMapping:
    """The LUTs (in topological order) covering the gates up to the output bits."""

    k: int
    luts: list[Lut]
    drivers: list[int | str]   # per output index: a LUT root or input id, or "0"/"1"
    source: nx.DiGraph         # the IR that was mapped (its boundary: inputs, classes)
    stages: list[dict] = field(default_factory=list)

    @property
    def num_luts(self) -> int:
        return len(self.luts)

    @property
    def depth(self) -> int:
        """LUTs on the longest path from an input to an output bit."""
        level = dict.fromkeys(range(self.source.graph["num_inputs"]), 0)
        for lut in self.luts:
            level[lut.root] = 1 + max((level[leaf] for leaf in lut.leaves), default=0)
        return max((level[d] for d in self.drivers if not isinstance(d, str)), default=0)

    def to_ir(self) -> nx.DiGraph:
        """The LUT netlist as an IR over the source's inputs and outputs: one gate per LUT."""
        boundary = self.source.graph
        g = ir.new_ir(boundary["name"], boundary["num_inputs"], boundary["num_classes"],
                      boundary["group_size"], boundary["tau"], boundary["encoder"])
        node_of = {i: i for i in range(boundary["num_inputs"])}
        level = dict.fromkeys(node_of, 0)
        for lut in self.luts:
            operands = tuple(node_of[leaf] for leaf in lut.leaves)
            depth = 1 + max(level[op] for op in operands)
            node_of[lut.root] = ir.add_gate(g, lut.table, operands, depth - 1)
            level[node_of[lut.root]] = depth
        for value in CONST_OPERANDS:
            if value in self.drivers:
                node_of[value] = ir.add_const(g, int(value))
        group_size = boundary["group_size"]
        for index, driver in enumerate(self.drivers):
            ir.add_output(g, node_of[driver], index, index // group_size)
        return g


def lut_map(g: nx.DiGraph, k: int = 6, cuts: int = CUTS, area_flow_rounds: int = 1,
            exact_area_rounds: int = 2, depth_slack: int | None = 0) -> LutMapping:
    """Map the gates of `g` (any pass preset) into K-input LUTs: depth first, then area.

    The area passes keep the depth within `depth_slack` LUTs of the depth pass's (None:
    no bound, area only, like ABC `if -a`).
    """
    if not MIN_K <= k <= MAX_K:
        raise LgnError(f"LUT size K must be {MIN_K}..{MAX_K}, got {k}")
    with ir.bulk_work():  # millions of small tuples and lists; none in a cycle
        return _lut_map(g, k, cuts, area_flow_rounds, exact_area_rounds, depth_slack)


def _lut_map(g: nx.DiGraph, k: int, cuts: int, area_flow_rounds: int,
             exact_area_rounds: int, depth_slack: int | None) -> LutMapping:
    stages = []
    start = time.perf_counter()
    subject = Subject(g, k)
    stages.append({"stage": "subject graph", "nodes": subject.num_gates,
                   "seconds": round(time.perf_counter() - start, 3)})
    mapper = _Mapper(subject, cuts, depth_slack)
    rounds = [("depth", partial(mapper.enumerate, "depth"))]
    rounds += [("area flow", partial(mapper.enumerate, "area"))] * area_flow_rounds
    rounds += [("exact area", mapper.exact_area)] * exact_area_rounds
    for name, run in rounds:
        start = time.perf_counter()
        run()
        refs = mapper.refresh()
        stages.append({"stage": name, "luts": sum(1 for r in refs[subject.num_inputs:-1] if r),
                       "depth": mapper.depth(), "seconds": round(time.perf_counter() - start, 3)})
    start = time.perf_counter()
    luts, drivers = mapper.functions()
    mapping = LutMapping(k, luts, drivers, g, stages)
    stages.append({"stage": "functions", "luts": mapping.num_luts, "depth": mapping.depth,
                   "seconds": round(time.perf_counter() - start, 3)})
    return mapping


# ---- 1. the subject graph ---------------------------------------------------------------

class Subject:
    """The network to map, in arrays: inputs 0..P-1, then gates of at most K fanins.

    A signal is a node index or a constant "0"/"1". `orig[v]` is the IR id node v computes
    (fresh ids for the parts of a split gate).
    """

    def __init__(self, g: nx.DiGraph, k: int):
        self.k = k
        self.num_inputs = g.graph["num_inputs"]
        self.fanins: list[tuple[int, ...]] = [()] * self.num_inputs
        self.tables: list[int] = [0] * self.num_inputs
        self.orig: list[int] = list(range(self.num_inputs))
        self._fresh = g.graph["next_id"]
        signal: dict[int, int | str] = {}
        for node, attrs in g.nodes(data=True):
            kind = attrs["kind"]
            if kind == ir.INPUT:
                signal[node] = attrs["index"]
            elif kind == ir.CONST:
                signal[node] = str(attrs["value"])
            elif kind == ir.GATE:
                signal[node] = self._make(attrs["table"],
                                          tuple(signal[op] for op in attrs["operands"]), node)
        self.drivers = [signal[ir.operands(g, out)[0]] for out in ir.outputs(g)]

    @property
    def num_nodes(self) -> int:
        return len(self.fanins)

    @property
    def num_gates(self) -> int:
        return self.num_nodes - self.num_inputs

    def _make(self, table: int, operands: tuple, orig: int | None) -> int | str:
        """The signal computing `table` over `operands` (signals): a constant, an operand
        itself, or a new node (split by Shannon expansion when wider than K)."""
        gate = _reduce(table, operands)
        if not isinstance(gate, tuple):
            return gate
        table, operands = gate
        if len(operands) > self.k:  # f = last ? f(last=1) : f(last=0), halves over the rest
            half = 1 << (len(operands) - 1)
            low = self._make(table & ((1 << half) - 1), operands[:-1], None)
            high = self._make(table >> half, operands[:-1], None)
            return self._make(MUX, (low, high, operands[-1]), orig)
        if orig is None:
            orig, self._fresh = self._fresh, self._fresh + 1
        self.fanins.append(operands)
        self.tables.append(table)
        self.orig.append(orig)
        return self.num_nodes - 1


# ---- 2. and 3. cuts and mapping passes --------------------------------------------------

class _Mapper:
    """Cut sets and the current mapping of a subject graph.

    Node index n (one past the last node) is a sentinel: the padding of every leaf array,
    with arrival -1, flow 0 and one reference, so gathers over padded cuts need no masks.
    Each node stores C priority cuts (slots 0..C-1, slot 0 its best) and its trivial cut
    {itself} in slot C, which is what its readers merge.
    """

    def __init__(self, subject: Subject, cuts: int, depth_slack: int | None):
        self.subject, self.c, self.slack = subject, cuts, depth_slack
        n, k, p = subject.num_nodes, subject.k, subject.num_inputs
        self.sent = n
        self.cuts = np.full((n + 1, cuts + 1, k), n, dtype=np.int32)
        self.cuts[:n, cuts, 0] = np.arange(n)
        self.valid = np.zeros((n + 1, cuts + 1), dtype=bool)
        self.valid[:n, cuts] = True
        self.sig = np.zeros((n + 1, cuts + 1), dtype=np.uint64)
        self.sig[:n, cuts] = np.left_shift(np.uint64(1), np.arange(n, dtype=np.uint64) % 64)
        self.arrival = np.full(n + 1, -1, dtype=np.int64)
        self.arrival[:p] = 0
        self.flow = np.zeros(n + 1)
        self.required = np.full(n + 1, _UNCONSTRAINED, dtype=np.int64)
        self.leaf_hash = np.random.default_rng(0).integers(1, 2**63, n + 1, dtype=np.uint64)
        self.leaf_hash[n] = 0
        fanin = np.full((n, k), n, dtype=np.int32)
        arity = np.array([len(f) for f in subject.fanins], dtype=np.int64)
        for v in range(p, n):
            fanin[v, :arity[v]] = subject.fanins[v]
        self.fanin = fanin
        readers = np.bincount(fanin[p:].ravel(), minlength=n + 1)
        for d in subject.drivers:
            if not isinstance(d, str):
                readers[d] += 1
        self.est_refs = np.maximum(readers, 1).astype(float)
        self.est_refs[n] = 1.0
        self.groups = _level_groups(fanin, arity, p)
        self.refs: list[int] = []
        self.best: list[tuple[int, ...]] = []

    # -- enumeration (numpy, level by level) --

    def enumerate(self, mode: str) -> None:
        """One pass of priority-cut enumeration; `mode` "depth" or "area" orders the cuts."""
        for nodes in self.groups:
            arity = int(np.count_nonzero(self.fanin[nodes[0]] < self.sent))
            row, leaves, sig = self._unions(self.fanin[nodes, :arity])
            last = np.flatnonzero(self.valid[nodes, 0])  # the last pass's best stays a candidate
            self._select(nodes, np.concatenate([row, last]),
                         np.concatenate([leaves, self.cuts[nodes[last], 0]]),
                         np.concatenate([sig, self.sig[nodes[last], 0]]), mode)

    def _unions(self, fanins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The unions of one cut per fanin that fit K, as a flat list: the row (node of the
        group) each belongs to, ascending; sorted leaves [F, K], sentinel padded; and their
        64-bit signatures (bit leaf % 64). A pair whose signatures already show more than K
        leaves is never merged. Beyond two fanins the partial unions of a row are pruned to
        its smallest 4C (the all-fanins cut always kept)."""
        k, sent, trivial_slot = self.subject.k, self.sent, self.c
        first = fanins[:, 0]
        row, slot = np.nonzero(self.valid[first])
        leaves, sig = self.cuts[first[row], slot], self.sig[first[row], slot]
        trivial = slot == trivial_slot
        for i in range(1, fanins.shape[1]):
            fanin = fanins[row, i]
            other = self.sig[fanin]                                   # [F, S]
            pair, slot = np.nonzero(self.valid[fanin]
                                    & (_popcount(sig[:, None] | other) <= k))
            both = np.concatenate([leaves[pair], self.cuts[fanin[pair], slot]], axis=1)
            both.sort(axis=1)
            tail = both[:, 1:]
            tail[tail == both[:, :-1]] = sent
            both.sort(axis=1)
            fits = both[:, k] == sent
            pair, slot = pair[fits], slot[fits]
            row, leaves = row[pair], np.ascontiguousarray(both[fits, :k])
            sig = sig[pair] | other[pair, slot]
            trivial = trivial[pair] & (slot == trivial_slot)
            if i < fanins.shape[1] - 1:
                size = np.where(trivial, -1, (leaves < sent).sum(1))
                order = np.lexsort((size, row))
                keep = np.sort(order[_rank_in_row(row[order]) < 4 * self.c])
                row, leaves, sig, trivial = row[keep], leaves[keep], sig[keep], trivial[keep]
        return row, leaves, sig

    def _select(self, nodes: np.ndarray, row: np.ndarray, leaves: np.ndarray,
                sig: np.ndarray, mode: str) -> None:
        """Keep the C best distinct, undominated candidates of each node; slot 0 is its best."""
        sent, c = self.sent, self.c
        size = (leaves < sent).sum(1)
        depth = self.arrival[leaves].max(1) + 1
        flow = 1 + (self.flow[leaves] / self.est_refs[leaves]).sum(1)
        hashes = self.leaf_hash[leaves].sum(1)
        order = np.lexsort((hashes, row))
        same = (row[order][1:] == row[order][:-1]) & (hashes[order][1:] == hashes[order][:-1])
        distinct = np.sort(np.concatenate([order[:1], order[1:][~same]]))
        flow_q = np.minimum(np.round(flow * 256), 2**37 - 1).astype(np.int64)
        # ABC's orders: depth, then fewer leaves (which merge into more cuts above), then
        # area flow; area: area flow, fewer leaves, depth (late cuts last)
        if mode == "depth":
            key = (np.minimum(depth, 2**20 - 1) << 42) | (size << 38) | flow_q
        else:
            late = (depth > self.required[nodes][row]).astype(np.int64)
            key = (late << 62) | (flow_q << 16) | (size << 12) | np.minimum(depth, 2**12 - 1)
        order = distinct[np.lexsort((key[distinct], row[distinct]))]
        rank = _rank_in_row(row[order])
        top, rank = order[rank < 2 * c], rank[rank < 2 * c]
        # the best 2C per node, dense: [N, 2C] candidate indices (-1: none; masked below)
        index = np.full((len(nodes), 2 * c), -1, dtype=np.int64)
        index[row[top], rank] = top
        ok = index >= 0
        cand_sig = np.where(ok, sig[index], np.uint64(0))
        # Drop a cut when a better one's leaves are a subset of its leaves (checked on the
        # signatures: a rare false match only drops a usable cut).
        subset = (cand_sig[:, :, None] & ~cand_sig[:, None, :]) == 0   # [N, i, j]: i within j
        earlier = np.triu(np.ones((2 * c, 2 * c), dtype=bool), 1)
        ok &= ~(subset & earlier & ok[:, :, None]).any(axis=1)
        first_c = np.argsort(~ok, axis=1, kind="stable")[:, :c]  # the first C still ok
        keep, kept = np.take_along_axis(index, first_c, 1), np.take_along_axis(ok, first_c, 1)
        self.cuts[nodes, :c] = np.where(kept[:, :, None], leaves[keep], sent)
        self.sig[nodes, :c] = np.where(kept, sig[keep], np.uint64(0))
        self.valid[nodes, :c] = kept
        assert kept[:, 0].all(), "a node without a feasible cut"
        self.arrival[nodes] = depth[keep[:, 0]]
        self.flow[nodes] = flow[keep[:, 0]]

    # -- the current mapping (Python: one sweep over the nodes) --

    def refresh(self) -> list[int]:
        """Recount the mapping from the outputs down: references, required times for the
        depth the first pass reached, and the fanout estimates area flow divides by."""
        n, p = self.sent, self.subject.num_inputs
        sizes = (self.cuts[:n, 0] < n).sum(1).tolist()
        self.best = best = [tuple(cut[:size]) for cut, size
                            in zip(self.cuts[:n, 0].tolist(), sizes)]
        refs = [0] * (n + 1)
        drivers = [d for d in self.subject.drivers if not isinstance(d, str) and d >= p]
        for d in drivers:
            refs[d] += 1
        if not self.refs:  # after the depth pass: fix the target depth
            depth = max((int(self.arrival[d]) for d in drivers), default=0)
            self.target = _UNCONSTRAINED if self.slack is None else depth + self.slack
        req = [_UNCONSTRAINED] * (n + 1)
        for d in drivers:
            req[d] = self.target
        for v in range(n - 1, p - 1, -1):
            if refs[v]:
                below = req[v] - 1
                for leaf in best[v]:
                    refs[leaf] += 1
                    if below < req[leaf]:
                        req[leaf] = below
        self.required[:] = req
        self.refs = refs
        self.est_refs = np.maximum((2 * self.est_refs + np.array(refs)) / 3, 1.0)
        return refs

    def depth(self) -> int:
        drivers = [d for d in self.subject.drivers if not isinstance(d, str)]
        return int(self.arrival[drivers].max(initial=0))

    def exact_area(self) -> None:
        """Exact local area: each mapped node (in topological order) takes the cut that
        adds the fewest LUTs to the mapping as it stands, among those meeting its required
        time; an unmapped node keeps its cut, its arrival updated."""
        p, n, c = self.subject.num_inputs, self.sent, self.c
        refs, best = self.refs, self.best
        arrival = self.arrival.tolist()
        required = self.required.tolist()

        def dereference(cut):  # free the cut's cone: LUTs no longer read
            stack = list(cut)
            while stack:
                leaf = stack.pop()
                if leaf >= p:
                    refs[leaf] -= 1
                    if not refs[leaf]:
                        stack.extend(best[leaf])

        def reference(cut, limit=n):  # LUTs the cut's cone adds; undone if over `limit`
            area, stack, log = 0, list(cut), []
            while stack:
                leaf = stack.pop()
                if leaf < p:
                    continue
                if not refs[leaf]:
                    area += 1
                    if area > limit:
                        break
                    stack.extend(best[leaf])
                refs[leaf] += 1
                log.append(leaf)
            if area > limit:
                for leaf in log:
                    refs[leaf] -= 1
            return area

        mapped = [v for v in range(p, n) if refs[v]]  # no node gets read before its turn
        sizes = (self.cuts[mapped, :c] < n).sum(2).tolist()
        cut_lists = dict(zip(mapped, zip(self.cuts[mapped, :c].tolist(), sizes)))
        for v in range(p, n):
            if not refs[v]:
                arrival[v] = 1 + max(map(arrival.__getitem__, best[v]))
                continue
            dereference(best[v])
            choice = None  # ((area, depth), slot, cut)
            for slot, (cut, size) in enumerate(zip(*cut_lists[v])):
                if not size:
                    continue
                cut = tuple(cut[:size])
                depth = 1 + max(map(arrival.__getitem__, cut))
                if depth > required[v]:
                    continue
                limit = choice[0][0] if choice else n
                area = reference(cut, limit)
                if area <= limit:
                    dereference(cut)
                    if choice is None or (area, depth) < choice[0]:
                        choice = ((area, depth), slot, cut)
            assert choice is not None, "the previous cut no longer meets its required time"
            (_, arrival[v]), slot, best[v] = choice
            reference(best[v])
            if slot:  # the chosen cut becomes the best one (slot 0) for the next pass
                for table in (self.cuts, self.sig):
                    table[v, [0, slot]] = table[v, [slot, 0]]
        self.arrival[:n] = arrival[:n]

    # -- 4. LUT functions --

    def functions(self) -> tuple[list[Lut], list[int | str]]:
        """The LUTs of the mapping, from the outputs down, with their truth tables."""
        subject, p = self.subject, self.subject.num_inputs
        orig = subject.orig
        mapped = [v for v in range(p, self.sent) if self.refs[v]]
        signal: dict[int, int | str] = {v: v for v in range(p)}
        made: dict[int, tuple[tuple, int]] = {}
        for v in mapped:
            leaves = self.best[v]
            table = _cone_table(subject, v, leaves)
            gate = _reduce(table, tuple(signal[leaf] for leaf in leaves))
            if isinstance(gate, tuple):
                signal[v] = v
                made[v] = gate[::-1]
            else:  # a wire or a constant: its readers take the signal itself
                signal[v] = gate
        drivers = [signal[d] if not isinstance(d, str) else d for d in subject.drivers]
        live, stack = set(), [d for d in drivers if not isinstance(d, str) and d >= p]
        while stack:  # LUTs folded into readers may leave others unread
            v = stack.pop()
            if v not in live:
                live.add(v)
                stack.extend(op for op in made[v][0] if op >= p)
        luts = [Lut(orig[v], tuple(orig[op] for op in made[v][0]), made[v][1])
                for v in sorted(live)]
        return luts, [d if isinstance(d, str) else orig[d] for d in drivers]


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return np.unpackbits(words[..., None].view(np.uint8), axis=-1).sum(-1)


def _rank_in_row(rows: np.ndarray) -> np.ndarray:
    """For a sorted array of row ids, each entry's position within its row's run."""
    return np.arange(len(rows)) - np.searchsorted(rows, rows)


def _level_groups(fanin: np.ndarray, arity: np.ndarray, num_inputs: int) -> list[np.ndarray]:
    """Gate indices grouped by (logic level, arity), levels ascending, at most CHUNK each."""
    n = len(fanin)
    depth = [0] * n
    widths = arity.tolist()
    for v, row in enumerate(fanin[num_inputs:].tolist(), num_inputs):  # fanins come first
        depth[v] = 1 + max(depth[f] for f in row[:widths[v]])
    level = np.array(depth, dtype=np.int64)
    gates = np.arange(num_inputs, n)
    order = gates[np.lexsort((arity[gates], level[gates]))]
    keys = level[order] * 8 + arity[order]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    groups = []
    for group in np.split(order, bounds):
        groups += [group[i:i + CHUNK] for i in range(0, len(group), CHUNK)]
    return groups


_VAR_TABLES = {k: [sum(1 << j for j in range(1 << k) if (j >> i) & 1) for i in range(k)]
               for k in range(MAX_K + 1)}


def _cone_table(subject: Subject, root: int, leaves: tuple[int, ...]) -> int:
    """Truth table over `leaves` of the cone from them up to `root`."""
    k = len(leaves)
    mask = full_mask(k)
    value = dict(zip(leaves, _VAR_TABLES[k]))
    stack = [root]
    while stack:
        v = stack[-1]
        pending = [f for f in subject.fanins[v] if f not in value]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if v in value:
            continue
        operands = [value[f] for f in subject.fanins[v]]
        if len(operands) <= COMPILED_ARITY:
            value[v] = _gate_function(subject.tables[v], len(operands))(operands) & mask
        else:
            value[v] = _apply_table(subject.tables[v], operands, mask)
    return value[root]


COMPILED_ARITY = 3  # up to 3 inputs every table (256) gets a compiled function, cached


@lru_cache(maxsize=512)
def _gate_function(table: int, arity: int):
    """A Python function of a list of operand truth tables (ints) computing the gate on them
    bitwise (its ~ leaves high bits set: the caller masks), from gates.table_expression."""
    expression = table_expression(table, arity)
    assert expression is not None, "subject graph gates are never constant"
    return eval("lambda a: " + expression.format(*(f"a[{i}]" for i in range(arity))))


def _apply_table(table: int, operands: list[int], mask: int) -> int:
    """The gate on operand truth tables by Shannon expansion on its last operand: for wide
    gates, whose tables rarely repeat (an expression per table would cost milliseconds)."""
    if not operands:
        return mask if table & 1 else 0
    half = 1 << (len(operands) - 1)
    low, high = table & ((1 << half) - 1), table >> half
    rest = operands[:-1]
    if low == high:
        return _apply_table(low, rest, mask)
    select = operands[-1]
    return (_apply_table(low, rest, mask) & ~select | _apply_table(high, rest, mask) & select) & mask


def _reduce(table: int, operands: tuple) -> tuple[int, tuple] | int | str:
    """A gate over signals without constant, repeated or ignored operands (gates.simplify):
    (table, operands), or the signal it is when it is a constant or a wire."""
    if not _is_simple(table, operands):
        table, keep = simplify(table, operands)
        operands = tuple(operands[i] for i in keep)
    if not operands:
        return str(table & 1)
    if len(operands) == 1 and table == IDENTITY:
        return operands[0]
    return table, operands


def _is_simple(table: int, operands: tuple) -> bool:
    """Whether gates.simplify would leave the gate as it is: distinct signals, no constant,
    each one read (a quick check of the common case, which simplify's tables make slow)."""
    return (len(set(operands)) == len(operands) and "0" not in operands
            and "1" not in operands and len(operands) <= MAX_K
            and all((table >> (1 << i)) & low != table & low
                    for i, low in enumerate(_LOW_HALVES[len(operands)])))


# per k: masks of the table bits j with variable i = 0
_LOW_HALVES = {k: [full_mask(k) ^ var for var in _VAR_TABLES[k]] for k in range(MAX_K + 1)}
