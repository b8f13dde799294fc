"""Every script in examples/ runs (one short epoch each; their docstrings give the full
runs' results)."""
import importlib.util
import pathlib

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_four_examples():
    assert {p.stem for p in EXAMPLES} >= {"cnn_digits", "lstm_digits", "cnn_lstm", "char_lm"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, capsys):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "Expected result" in module.__doc__
    if path.stem == "cnn_lstm":
        module.main(epochs=1, sequences=512)
    else:
        module.main(epochs=1)
    assert capsys.readouterr().out
