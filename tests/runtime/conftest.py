"""Fixtures for the runtime tests: run.yaml dicts that follow docs/run-format.md exactly.

Until the compiler lands, ``make_run(tmp_path, **overrides)`` writes a compiled run folder by hand
(overrides are deep-merged into each section) for the embedded ``peftc:tiny-llama``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from peftc.vocab.keys import CHAT_OPTIONS, DATASET_KEY

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


DELETE = "<delete>"  # an override value that removes the key


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value == DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataset_entry(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    """One ``data.datasets[]`` entry for a file in examples/data."""
    entry = {
        "path": str(DATA / name), "local": True, "builder": "json", "name": None,
        "revision": None, "split": "train", "data_files": None, "type": type_, "fields": {},
    }
    if type_ == "chat_template":  # the options' defaults, as the compiler fills them
        entry.update({k: DATASET_KEY[k].schema.get("default") for k in CHAT_OPTIONS})
        entry["train_on_eot"] = entry["train_on_eos"]
    entry.update(extra)
    return entry


def base_run(tmp_path: Path, run_id: str) -> dict[str, Any]:
    output_dir = str(tmp_path / "runs" / run_id / "output")
    return {
        "peftc_version": "0.1.0",
        "run_id": run_id,
        "stage": None,
        "depends_on": [],
        "output_dir": output_dir,
        "model": {
            "name_or_path": "peftc:tiny-llama",
            "class": "AutoModelForCausalLM",
            "family": "llama",
            "config_overrides": None,
            "from_pretrained": {"revision": None, "trust_remote_code": False,
                                "attn_implementation": "sdpa"},
            "gradient_checkpointing": False,
            "gradient_checkpointing_kwargs": {"use_reentrant": False},
            "resize_to_multiple_of": None,
        },
        "precision": {"bf16": "auto", "fp16": "auto", "tf32": "auto",  # fp32 on a CPU
                      "bfloat16": False, "float16": False},
        "tokenizer": {"name_or_path": "peftc:tiny-llama", "class": "AutoTokenizer",
                      "padding_side": "right", "special_tokens": None, "tokens": None,
                      "added_tokens_overrides": None, "chat_template": None,
                      "chat_template_fallback": None},
        "quantization": None,
        "adapter": {
            "method": "lora",
            "peft_class": "LoraConfig",
            "config": {"task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 16, "lora_dropout": 0.0,
                       "bias": "none", "target_modules": list(LLAMA_TARGETS)},
            "prepare_kbit": False,
            "from_adapter": None,
            "sft_adapter": None,
            "relora": None,
            "loraplus": None,
            "unfrozen_parameters": None,
        },
        "data": {
            "datasets": [dataset_entry("alpaca.jsonl", "alpaca_plain")],
            "val_set_size": 0.0,
            "shuffle_seed": 42,
            "shuffle": True,
            "deduplicate": False,
            "excess_length": "drop",
            "prepared_path": None,
            "train_on_inputs": False,
            "eot_tokens": None,
            "chat_template_kwargs": None,
            "max_prompt_length": None,
        },
        "trainer": {
            "kind": "sft",
            "config_class": "SFTConfig",
            "config": {
                "output_dir": output_dir,
                "per_device_train_batch_size": 4,
                "gradient_accumulation_steps": 1,
                "learning_rate": 0.002,
                "lr_scheduler_type": "constant",
                "warmup_steps": 0.0,
                "max_steps": 3,
                "num_train_epochs": 1.0,
                "max_length": 64,
                "packing": False,
                "logging_steps": 1,
                "save_steps": 100,
                "seed": 42,
                "report_to": "none",
                "disable_tqdm": True,
                "completion_only_loss": True,
                "dataloader_num_workers": 0,
            },
            "max_warmup_steps": None,
            "jagged_lr": None,
            "early_stopping_patience": None,
            "loss_watchdog": None,
            "resume_from_checkpoint": None,
        },
        "samples": {"prompts": [], "max_new_tokens": 8},
        "report": {"wandb": None},
        "batch": {"micro_batch_size": 4, "gradient_accumulation_steps": 1, "num_gpus": 1,
                  "global_batch_size": None, "effective_global_batch_size": 4},
        "launch": {"num_processes": 1, "num_machines": 1, "deepspeed": None, "fsdp": False,
                   "accelerate_config": "accelerate.yaml"},
    }


def make_run(tmp_path: Path, run_id: str = "tiny-llama-test", **overrides: Any) -> Path:
    """Write ``tmp_path/runs/<run_id>/run.yaml`` and return the run folder."""
    run = deep_merge(base_run(tmp_path, run_id), overrides)
    adapter = overrides.get("adapter") or {}
    if adapter.get("peft_class", "LoraConfig") != "LoraConfig" and "config" in adapter:
        run["adapter"]["config"] = copy.deepcopy(adapter["config"])  # another class's kwargs
    run_dir = tmp_path / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump(run, sort_keys=False))
    return run_dir


def read_run(run_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(run_dir) / "run.yaml").read_text())


@pytest.fixture(scope="session")
def tiny_llama_path() -> Path:
    from peftc.runtime.tiny_model import ensure_tiny_llama

    return ensure_tiny_llama()
