"""The HTML report: every number it shows is the one in report.json, and the gate-type
histogram counts the gates report.json counts."""

import json
from collections import Counter
from html.parser import HTMLParser

import pytest

from lgn_compile.cli import main
from lgn_compile.gates import DIFFLOGIC_OP_NAMES, table_to_difflogic_op
from lgn_compile.model_file import save_model
from lgn_compile.random_net import random_model_dict


class DataCells(HTMLParser):
    """data-key -> the text of that element."""

    def __init__(self):
        super().__init__()
        self.cells, self._key = {}, None

    def handle_starttag(self, tag, attrs):
        self._key = dict(attrs).get("data-key")

    def handle_data(self, data):
        if self._key is not None:
            self.cells[self._key] = data
            self._key = None


def cells_of(html_text):
    parser = DataCells()
    parser.feed(html_text)
    return parser.cells


ACCURACIES = {
    "reported gap": {"train_soft": 0.91, "train_discrete": 0.9, "test_soft": 0.875,
                     "test_discrete": 0.8125, "gap": 0.0625},
    "gap from test accuracies": {"test_soft": 0.75, "test_discrete": 0.5},
}


def compile_with_report(tmp_path, accuracy=None, extra=()):
    raw = random_model_dict(11, num_inputs=12, layer_sizes=(40, 30, 12), num_classes=3)
    if accuracy is not None:
        raw["meta"]["accuracy"] = accuracy
    save_model(tmp_path / "m.pt", raw)
    assert main([str(tmp_path / "m.pt"), "-o", str(tmp_path / "out"), "-q",
                 "--report", str(tmp_path / "r.json"), *extra]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    return raw, report, cells_of((tmp_path / "r.html").read_text())


@pytest.mark.parametrize("accuracy", ACCURACIES.values(), ids=ACCURACIES.keys())
def test_html_numbers_are_report_json_numbers(tmp_path, accuracy):
    _, report, cells = compile_with_report(tmp_path, accuracy)
    opt = report["optimization"]
    for when in ("before", "after"):
        for key in ("gates", "depth", "inverters", "constants"):
            assert int(cells[f"{key}-{when}"]) == opt[when][key]
        for layer in set(opt["before"]["per_layer"]) | set(opt["after"]["per_layer"]):
            assert int(cells[f"layer-{layer}-{when}"]) == opt[when]["per_layer"].get(layer, 0)
        for kind, count in report["gate_types"][when].items():
            assert int(cells[f"type-{kind}-{when}"]) == count
    steps = [opt["before"]] + [entry["after"] for round_log in opt["rounds"]
                               for entry in round_log]
    assert [int(cells[f"step-{i}-gates"]) for i in range(len(steps))] == \
        [step["gates"] for step in steps]
    # no --synth-report: no whole-design LUT figure, nothing that reads like one
    assert not any(key.startswith("hw-synth") for key in cells)
    for key, value in accuracy.items():
        if key != "gap":  # shown once, on its own row
            shown = cells[f"accuracy-{key.replace('_', ' ')}"]
            assert float(shown.rstrip(" %")) == pytest.approx(100 * value, abs=5e-3)
    assert "accuracy-gap" not in cells
    gap = accuracy.get("gap", accuracy["test_soft"] - accuracy["test_discrete"])
    assert float(cells["gap"].split()[0]) == pytest.approx(100 * gap, abs=5e-3)


def test_accuracies_read_train_then_test_soft_then_discrete(tmp_path):
    _, _, cells = compile_with_report(tmp_path, ACCURACIES["reported gap"])
    shown = [key for key in cells if key.startswith("accuracy-")]
    assert shown == ["accuracy-train soft", "accuracy-train discrete", "accuracy-test soft",
                     "accuracy-test discrete"]


def test_gate_type_histogram_counts_the_model_gates(tmp_path):
    raw, report, _ = compile_with_report(tmp_path)
    tables = [int("".join(map(str, row[::-1])), 2)
              for layer in raw["discrete"]["tables"] for row in layer.tolist()]
    expected = Counter(DIFFLOGIC_OP_NAMES[table_to_difflogic_op(t)] for t in tables)
    assert report["gate_types"]["before"] == dict(expected)
    for when in ("before", "after"):
        assert sum(report["gate_types"][when].values()) == \
            report["optimization"][when]["gates"]


def test_untrained_model_has_no_training_section(tmp_path):
    _, _, cells = compile_with_report(tmp_path)
    assert "gap" not in cells and not any(key.startswith("accuracy-") for key in cells)


def test_synth_report_luts_are_yosys_luts(tmp_path):
    _, report, cells = compile_with_report(tmp_path, extra=["-t", "verilog", "--synth-report"])
    synth = report["verilog"]["synth"]
    assert int(cells["hw-synth-xilinx-luts"]) == synth["xilinx"]["luts"]
    assert int(cells["hw-synth-ice40-luts"]) == synth["ice40"]["luts"]


def test_report_path_must_not_be_the_html_name(tmp_path, capsys):
    save_model(tmp_path / "m.pt", random_model_dict(1))
    assert main([str(tmp_path / "m.pt"), "-o", str(tmp_path / "out"), "-q",
                 "--report", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give the JSON file's name" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.html").exists()
