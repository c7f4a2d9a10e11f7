"""Training on real architectures, not only the embedded Llama: for every family of the table,
LoRA SFT, QLoRA SFT and DPO train two steps, through the compiler and the runtime (`peftc
smoke`'s path), on a tiny random model built from transformers' own config class; and every
adapter method trains on two families whose module names are not Llama's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from peftc.runtime import smoke
from peftc.vocab.families import FAMILIES
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.architectures

STAGES = """
base_model: acme/house-model
model_family: {family}
sequence_len: 256
stages:
  lora:
    adapter: lora
    datasets: [{{path: alpaca.jsonl, type: alpaca}}]
  qlora:
    adapter: qlora
    datasets: [{{path: alpaca.jsonl, type: alpaca}}]
  dpo:
    rl: dpo
    adapter: lora
    datasets: [{{path: preference.jsonl, type: preference}}]
"""

METHODS = """
base_model: {model}
sequence_len: 256
max_steps: 2
datasets: [{{path: alpaca.jsonl, type: alpaca}}]
sweep:
  adapter: [lora, qlora, dora, rslora, pissa, olora, loftq, adalora, loraplus, ia3,
            prompt_tuning, prefix_tuning, p_tuning]
"""


def _smoke(tmp_path: Path, text: str) -> smoke.Report:
    for name in ("alpaca.jsonl", "preference.jsonl"):
        shutil.copy(EXAMPLES / "data" / name, tmp_path / name)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return smoke.smoke(spec, tmp_path / "scratch", rows=8)


def _passed(report: smoke.Report) -> None:
    failures = {r.run_id: r.checks for r in report.rows if r.failed}
    assert not failures, smoke.render(report)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lora_qlora_and_dpo_train_on_every_family(family, tmp_path):
    report = _smoke(tmp_path, STAGES.format(family=family))
    _passed(report)
    assert [r.stage for r in report.rows] == ["lora", "qlora", "dpo"]
    [stand_in] = report.stand_ins.values()
    assert f"transformers' {FAMILIES[family].model_types[0]} config class" in stand_in.made_from
    scratch = tmp_path / "scratch" / "compiled" / "runs"
    qlora = next(scratch.glob("*-qlora-*"))
    assert "load_in_4bit: true" in (qlora / "run.yaml").read_text()  # trained on 4-bit


@pytest.mark.parametrize("model", ["microsoft/Phi-3-mini-4k-instruct", "EleutherAI/pythia-160m"])
def test_every_adapter_method_trains_beyond_llamas_module_names(model, tmp_path):
    report = _smoke(tmp_path, METHODS.format(model=model))
    _passed(report)
    assert len(report.rows) == 13
    merges = {r.run_id.split("-", 1)[1].rsplit("-", 1)[0]: r.checks["merge"]
              for r in report.rows}
    assert {m for m, cell in merges.items() if cell == "n/a"} == {
        "prompt-tuning", "prefix-tuning", "p-tuning"}
