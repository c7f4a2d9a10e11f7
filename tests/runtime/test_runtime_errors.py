"""A problem the runtime finds has its code and stops at the spec line behind it, and the
data's problems are found before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peftc.compiler import compile_spec

ROW = {"instruction": "Say hi.", "output": "Hi."}
SPEC = """\
base_model: peftc:tiny-llama
profile: none
adapter: lora
datasets:
  - path: first.jsonl
    type: alpaca
  - path: second.jsonl
    type: alpaca
micro_batch_size: 2
max_steps: 1
learning_rate: 2.0e-4
"""


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    for name in ("first.jsonl", "second.jsonl"):
        (tmp_path / name).write_text((json.dumps(ROW) + "\n") * 2)
    (tmp_path / "spec.yaml").write_text(SPEC)
    compile_spec(tmp_path / "spec.yaml", tmp_path / "out")
    return next((tmp_path / "out" / "runs").iterdir())


def no_model(*args, **kwargs):
    raise AssertionError("the model was loaded")


def test_rows_that_lack_their_columns_stop_the_run_at_the_entry_before_the_model_loads(
        run_dir, tmp_path, cli, monkeypatch):
    """The file changed after compile (lint read it then): the run finds it, at once."""
    (tmp_path / "second.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    monkeypatch.setattr("peftc.runtime.model.load_model", no_model)
    code, _, err = cli("run", run_dir)
    assert code == 1
    assert (f"{tmp_path / 'spec.yaml'}:7:5: E612 error: data: alpaca rows need instruction "
            "and output columns") in err  # the second entry's line
    status = json.loads((run_dir / "output" / "status.json").read_text())
    assert status["status"] == "failed" and "alpaca rows need" in status["error"]


def test_a_field_no_spec_line_set_is_shown_at_its_line_in_run_yaml(run_dir, cli, monkeypatch):
    path = run_dir / "run.yaml"
    text = path.read_text()
    path.write_text(text.replace("  resume_from_checkpoint: null",
                                 "  resume_from_checkpoint: /nowhere/checkpoint-5"))
    line = text[:text.index("  resume_from_checkpoint:")].count("\n") + 1
    monkeypatch.setattr("peftc.runtime.model.load_model", no_model)
    code, _, err = cli("run", run_dir)
    assert code == 1
    assert (f"{path}:{line}:3: E611 error: trainer.resume_from_checkpoint: "
            "/nowhere/checkpoint-5 is not there") in err
