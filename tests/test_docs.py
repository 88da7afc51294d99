"""Facts the README and --help state are the registries' facts (one owner per fact)."""

from __future__ import annotations

import re
from pathlib import Path

from lgn_compile.backends.c import SIMD_MODES
from lgn_compile.cli import main
from lgn_compile.compiler import TARGETS
from lgn_compile.passes import PASSES, PRESETS, pass_help

README = (Path(__file__).parents[1] / "README.md").read_text()


def _pass_table() -> list[str]:
    section = README[README.index("| pass | what it does |"):]
    rows = []
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(re.match(r"\| `(\w+)` \|", line)[1])
    return rows


def test_readme_pass_table_is_the_registry():
    assert sorted(_pass_table()) == sorted(PASSES)


def test_readme_presets_are_the_registry():
    for level, names in PRESETS.items():
        spelled = ",".join(names) if names else "none"
        assert f"`-O{level}` {'`' + spelled + '`' if names else 'none'}" in README or \
            (level == max(PRESETS) and f"`-O{level}` (default) all" in README), level


def test_help_is_generated_from_the_registries(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, even at hyphens
    for name in PASSES:
        assert name in text and "".join(pass_help(name).split()) in text
    for mode in SIMD_MODES:
        assert mode in text
    for target in TARGETS:
        assert target in text
