"""`peftc preview`: rows as the trainer sees them, with the trained spans marked, without
loading the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from peftc.runtime.run import execute

ROOT = Path(__file__).resolve().parents[2]
SPEC = f"""
base_model: peftc:tiny-llama
profile: none
datasets:
  - path: {DATA / "chat.jsonl"}
    type: chat_template
chat_template: chatml
sequence_len: 256
micro_batch_size: 2
max_steps: 1
"""


def peftc(*args, cwd):
    return subprocess.run([sys.executable, "-m", "peftc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("preview")
    (tmp / "spec.yaml").write_text(SPEC)
    (tmp / "alpaca.yaml").write_text(SPEC.replace("chat.jsonl", "alpaca.jsonl").replace(
        "chat_template\n", "alpaca\n"))
    rows = []
    for spec in ("spec.yaml", "alpaca.yaml"):
        proc = peftc("preview", spec, "--rows", "2", "--format", "json", cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows += [json.loads(line) for line in proc.stdout.splitlines()]
    return tmp, rows


def test_json_rows_have_ids_labels_and_segments(shown):
    _, rows = shown
    assert [(Path(r["dataset"]).name, r["row"]) for r in rows] == [
        ("chat.jsonl", 0), ("chat.jsonl", 1), ("alpaca.jsonl", 0), ("alpaca.jsonl", 1)]
    chat = rows[0]
    assert [s["text"] for s in chat["segments"] if s["trained"]] == [
        "WINTER<|im_end|>", "The capital of Poland is Warsaw.<|im_end|>"]
    assert all(not a["trained"] == b["trained"] for a, b in zip(
        chat["segments"], chat["segments"][1:], strict=False))  # maximal runs alternate
    assert chat["trained_tokens"] == sum(x != -100 for x in chat["labels"])
    assert len(chat["labels"]) == len(chat["input_ids"])
    alpaca = rows[2]
    assert alpaca["segments"][0]["text"].endswith("### Response:\n")  # the prompt: masked
    assert [s["trained"] for s in alpaca["segments"]] == [False, True]


def test_preview_rows_are_the_rows_training_trains(shown):
    tmp, rows = shown
    proc = peftc("compile", "spec.yaml", "-o", "out", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    [run_dir] = (tmp / "out" / "runs").iterdir()
    trained = {(tuple(r["input_ids"]), tuple(r["labels"]))
               for r in execute(run_dir).trainer.train_dataset}
    assert all((tuple(r["input_ids"]), tuple(r["labels"])) in trained for r in rows[:2])


def test_text_output_marks_trained_text(shown):
    tmp, _ = shown
    proc = peftc("preview", "spec.yaml", "--rows", "1", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--- " in proc.stdout and "chat.jsonl row 0: 22 of 72 tokens trained" in proc.stdout
    assert "<|im_start|>assistant\n[[WINTER<|im_end|>]]\n" in proc.stdout
    assert "Map:" not in proc.stderr  # no progress bars around the preview


def test_datasets_training_cannot_mix_are_refused_as_training_refuses_them(tmp_path):
    mixed = SPEC.replace("chat_template: chatml", f"  - path: {DATA / 'alpaca.jsonl'}\n"
                         "    type: alpaca\nchat_template: chatml")
    (tmp_path / "spec.yaml").write_text(mixed)
    proc = peftc("preview", "spec.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "the datasets format to different shapes" in proc.stderr


def test_a_dpo_run_or_an_unknown_run_is_a_clear_error(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC + "sweep: {seed: [1, 2]}\n")
    proc = peftc("preview", "spec.yaml", "--run", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "no single run is --run nope" in proc.stderr
    (tmp_path / "dpo.yaml").write_text(
        f"base_model: peftc:tiny-llama\nprofile: none\nrl: dpo\nlearning_rate: 1.0e-5\n"
        f"datasets: [{{path: {DATA / 'preference.jsonl'}, type: preference}}]\n")
    proc = peftc("preview", "dpo.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "peftc preview shows SFT runs" in proc.stderr
