"""run.yaml's schema: current, kept in step with the compiler, and enforced with locations."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from peftc.compiler import compile_spec
from peftc.diagnostics import PeftcError
from peftc.schema import runfile
from peftc.schema.markdown import run_reference
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "out"
DATA = ROOT / "examples" / "data" / "alpaca.jsonl"
# Sections every golden spec leaves at null, switched on here.
FULL = f"""\
base_model: peftc:tiny-llama
profile: none
adapter: lora
datasets: [{{path: {DATA}, type: alpaca}}]
val_set_size: 0.1
max_steps: 20
eval_steps: 5
save_steps: 5
learning_rate: 2.0e-4
relora: true
jagged_restart_steps: 10
jagged_restart_warmup_steps: 2
jagged_restart_anneal_steps: 2
loraplus_lr_ratio: 16
unfrozen_parameters: ["lm_head.*"]
wandb_project: p
loss_watchdog_threshold: 5.0
early_stopping_patience: 2
special_tokens: {{pad_token: "<pad>"}}
added_tokens_overrides: {{32000: "<x>"}}
model_config: {{rope_theta: 10000}}
chat_template_kwargs: {{a: 1}}
eot_tokens: ["</s>"]
dataset_prepared_path: prep
resume_from_checkpoint: ckpt
global_batch_size: 8
micro_batch_size: 8
tokens: ["<t>"]
lora_modules_to_save: [embed_tokens, lm_head]
"""
DPO = """\
base_model: peftc:tiny-llama
profile: none
adapter: qlora
load_in_4bit: true
rl: dpo
sft_adapter: sft
learning_rate: 1.0e-5
datasets: [{path: pref.jsonl, type: chatml.intel}]
max_prompt_len: 64
num_epochs: 1
"""
CHAT = """\
base_model: peftc:tiny-llama
profile: none
load_in_8bit: true
datasets:
  - {path: chat.jsonl, type: chat_template, chat_template: chatml, message_field_training: train}
num_epochs: 1
"""


def golden_runs() -> list[dict[str, Any]]:
    runs = []
    for record in sorted(GOLDEN.glob("*.gz")):
        text = gzip.decompress(record.read_bytes()).decode("utf-8")
        runs += [yaml.safe_load(m.group(1)) for m in
                 re.finditer(r"=== \S+run\.yaml ===\n(.*?)(?=\n=== |\Z)", text, re.S)]
    return runs


def compiled_runs(folder: Path) -> list[dict[str, Any]]:
    (folder / "sft").mkdir()
    (folder / "sft" / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    (folder / "pref.jsonl").write_text('{"question": "q", "chosen": "a", "rejected": "b"}\n')
    (folder / "chat.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "hi", "train": False},
        {"role": "assistant", "content": "yo", "train": True}]}) + "\n")
    runs = []
    for name, text in (("full", FULL), ("dpo", DPO), ("chat", CHAT)):
        (folder / f"{name}.yaml").write_text(text)
        out = folder / f"out-{name}"
        compile_spec(folder / f"{name}.yaml", out)
        runs += [yaml.safe_load(p.read_text()) for p in out.glob("runs/*/run.yaml")]
    return runs


def declared(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field peftc declares, nested sections' included (not the open kwargs')."""
    out = set()
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        out.add(path)
        if runfile.KWARGS_OF not in sub:
            inner = sub.get("items", sub) if "items" in sub else sub
            out |= declared(inner, f"{path}.")
    return out


def written(data: Any, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add(f"{prefix}{key}")
            out |= written(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                out |= written(item, prefix)
    return out


def test_committed_run_schema_and_docs_are_current():
    schema = runfile.run_schema()
    Draft202012Validator.check_schema(schema)
    committed = (ROOT / "peftc" / "schema" / "run.schema.json").read_text()
    assert committed == json.dumps(schema, indent=2) + "\n", \
        "run: peftc schema --run > peftc/schema/run.schema.json"
    assert (ROOT / "docs" / "run-format.md").read_text() == run_reference(), \
        "run: peftc schema --run --markdown > docs/run-format.md"


def test_every_compiled_run_validates_and_every_declared_field_is_written(tmp_path):
    runs = golden_runs() + compiled_runs(tmp_path)
    assert len(runs) > 100
    validator = Draft202012Validator(runfile.run_schema())
    for run in runs:
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(run)]
        assert not problems, (run["run_id"], problems[:5])
    seen = set().union(*(written(run) for run in runs))
    never = declared(runfile.run_schema()) - seen
    assert not never, f"declared in run.yaml's schema but never written: {sorted(never)}"


@pytest.fixture
def run_dir(tmp_path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(FULL.split("relora:")[0])
    compile_spec(spec, tmp_path / "out")
    return next((tmp_path / "out" / "runs").iterdir())


def edit(run_dir: Path, old: str, new: str) -> None:
    path = run_dir / "run.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def line_of(run_dir: Path, text: str) -> int:
    return next(i for i, line in enumerate((run_dir / "run.yaml").read_text().splitlines(), 1)
                if text in line)


def test_a_misspelt_key_is_reported_at_its_line_in_run_yaml(run_dir):
    edit(run_dir, "  padding_side: right", "  paddin_side: right")
    edit(run_dir, "  shuffle: true", "  shuffle: 3")
    with pytest.raises(PeftcError) as exc:
        runfile.load(run_dir)
    got = {(d.code, d.line, d.message) for d in exc.value.diagnostics}
    file = str(run_dir / "run.yaml")
    assert {d.file for d in exc.value.diagnostics} == {file}
    assert ("E100", line_of(run_dir, "paddin_side"),
            "unknown key 'tokenizer.paddin_side' (did you mean 'padding_side'?)") in got
    assert ("E101", line_of(run_dir, "  shuffle: 3"),
            "'data.shuffle' must be true or false, got an integer 3") in got


def test_a_missing_field_and_a_missing_run_yaml_are_reported(run_dir):
    edit(run_dir, "  val_set_size: 0.1\n", "")
    with pytest.raises(PeftcError) as exc:
        runfile.load(run_dir)
    assert [d.message for d in exc.value.diagnostics] == ["'data.val_set_size' is required"]
    (run_dir / "run.yaml").unlink()
    with pytest.raises(PeftcError) as exc:
        runfile.load(run_dir)
    assert exc.value.diagnostics[0].code == "E601" and exc.value.exit_code == 2
