"""`peftc smoke`: every stage on a CPU stand-in, one table of what would fail on the GPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from peftc.runtime import shrink, smoke
from peftc.runtime.tiny_model import ASSETS
from tests.conftest import EXAMPLES

DATA = EXAMPLES / "data"


def _row(out: str, run_prefix: str) -> dict[str, str]:
    """The table row of the run whose id starts with ``run_prefix``: check -> cell."""
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("stage "))
    names = head.split()
    row = next(line for line in lines if line.split()[1:2] and
               line.split()[1].startswith(run_prefix))
    return dict(zip(names, row.split(), strict=True))


def _parquet(rows: list[dict], path: Path) -> None:
    """A Parquet file: lint does not read its rows (that needs pyarrow), smoke's data step
    does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def _spec(tmp_path: Path, text: str) -> Path:
    for name in ("chat.jsonl", "preference.jsonl", "alpaca.jsonl"):
        shutil.copy(DATA / name, tmp_path / name)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_the_qwen_pipeline_smokes_offline_from_the_family_table(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("smoke", EXAMPLES / "qwen2.5-7b" / "sft-dpo.yaml")
    assert code == 0, out
    for run in ("qwen2.5-7b-sft", "qwen2.5-7b-dpo"):
        row = _row(out, run)
        assert all(row[check] == "ok" for check in smoke.CHECKS), row
    assert "transformers' qwen2 config class" in out and "Qwen2ForCausalLM" in out
    assert "tokenizer: the embedded model's (the real one is not at hand)" in out
    assert "2 stage(s) passed, 0 would fail" in out
    assert not (tmp_path / "peftc-runs").exists()  # the spec's own outputs are never touched
    title = next(line for line in out.splitlines() if line.startswith("peftc smoke:"))
    scratch = Path(title.rsplit("scratch ", 1)[1])
    assert not scratch.exists()  # a passing smoke leaves nothing behind


def test_hand_written_llama_targets_on_phi3_fail_naming_the_modules(cli, tmp_path):
    spec = _spec(tmp_path, """
base_model: microsoft/Phi-3-mini-4k-instruct
adapter: lora
lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
chat_template: phi_3
datasets:
  - path: chat.jsonl
    type: chat_template
""")
    code, out, _ = cli("smoke", spec, "-o", tmp_path / "scratch")
    assert code == 1
    assert _row(out, "spec-")["targets"] == "FAIL"
    assert ("targets: the model has no target_modules q_proj, k_proj, v_proj, gate_proj, "
            "up_proj (its linear layers: down_proj, gate_up_proj, o_proj, qkv_proj)") in out
    assert "0 stage(s) passed, 1 would fail" in out
    assert (tmp_path / "scratch" / "logs").is_dir()  # kept where asked


def _local_model(folder: Path, **config) -> Path:
    """A model folder as a download leaves it, minus the weights: its config.json and its
    tokenizer (the embedded one's files)."""
    shutil.copytree(ASSETS, folder)
    raw = shrink.class_defaults("gpt_neox")
    raw.update(vocab_size=1024, **config)
    (folder / "config.json").write_text(json.dumps(raw))
    return folder


def test_a_local_config_and_tokenizer_make_the_stand_in(cli, tmp_path):
    _local_model(tmp_path / "my-model", max_position_embeddings=512)
    spec = _spec(tmp_path, """
base_model: ./my-model
adapter: lora
sequence_len: 1024
datasets:
  - path: alpaca.jsonl
    type: alpaca
""")
    code, out, _ = cli("smoke", spec)
    assert code == 1
    row = _row(out, "spec-")
    assert row["context"] == "FAIL" and row["train"] == "ok" and row["targets"] == "ok"
    assert "sequence_len 1024 exceeds the model's context 512 (the model's config.json)" in out
    assert f"my-model's config.json ({tmp_path / 'my-model' / 'config.json'})" in out
    assert "GPTNeoXForCausalLM" in out and "tokenizer: the real one" in out


def test_dpo_data_without_pairs_and_a_prompt_learning_adapter(cli, tmp_path):
    _parquet([{"prompt": "hi", "chosen": "hello"}] * 20, tmp_path / "pairs.parquet")
    spec = _spec(tmp_path, """
base_model: peftc:tiny-llama
stages:
  sft:
    adapter: prompt_tuning
    num_virtual_tokens: 4
    datasets:
      - path: alpaca.jsonl
        type: alpaca
  dpo:
    rl: dpo
    adapter: lora
    datasets:
      - path: pairs.parquet
        type: preference
""")
    code, out, _ = cli("smoke", spec)
    assert code == 1
    sft, dpo = _row(out, "spec-sft"), _row(out, "spec-dpo")
    assert sft["merge"] == "n/a" and sft["reload"] == "ok" and sft["sample"] == "ok"
    assert dpo["data"] == "FAIL" and dpo["train"] == "-"
    assert "data: preference rows need a rejected column" in out


@pytest.mark.parametrize("flag", ["--run"])
def test_one_run_brings_what_it_depends_on(cli, tmp_path, flag):
    code, out, _ = cli("smoke", EXAMPLES / "qwen2.5-7b" / "sft-dpo.yaml", flag, "qwen2.5-7b-sft",
                       "--steps", "1", "--rows", "8")
    assert code == 0, out
    assert "qwen2.5-7b-dpo" not in out and "1 stage(s) passed" in out
    assert "the first 8 rows" in out and "1 optimizer steps" in out


def test_a_checkpoint_quantized_already_is_not_quantized_again(cli, tmp_path):
    _local_model(tmp_path / "gptq-model", quantization_config={"quant_method": "gptq"})
    spec = _spec(tmp_path, """
base_model: ./gptq-model
adapter: qlora
datasets:
  - path: alpaca.jsonl
    type: alpaca
""")
    code, out, _ = cli("smoke", spec, "--steps", "1")
    assert code == 1
    assert _row(out, "spec-")["model"] == "FAIL"
    assert "model: the checkpoint is already quantized (gptq)" in out


def test_a_stage_that_did_not_train_stops_its_dependants(cli, tmp_path):
    rows = [json.loads(x) for x in (DATA / "preference.jsonl").read_text().splitlines()]
    _parquet(rows, tmp_path / "preference.parquet")
    spec = _spec(tmp_path, """
base_model: peftc:tiny-llama
stages:
  sft:
    datasets: [{path: preference.parquet, type: alpaca}]
  dpo:
    rl: dpo
    sft_adapter: ${stages.sft.output_dir}
    datasets: [{path: preference.jsonl, type: preference}]
""")
    code, out, _ = cli("smoke", spec)
    assert code == 1
    assert _row(out, "spec-sft")["data"] == "FAIL"
    assert _row(out, "spec-dpo")["train"] == "FAIL"
    assert "alpaca rows need instruction and output columns" in out
    assert "train: not run: it depends on spec-sft-" in out
