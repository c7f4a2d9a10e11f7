"""Overhead of peftc's runtime over the same training written directly with TRL.

Both train the embedded ``peftc:tiny-llama`` with the same LoRA, data (examples/data/alpaca.jsonl,
prompt-completion), steps and seed in this process (imports are paid once, before timing), and
report the steps/s of the training loop and of the whole run (load -> save).

    python bench/train_overhead.py [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA = {"task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none",
        "target_modules": TARGETS}


def trainer_config(output_dir: str, steps: int, **extra: Any) -> dict[str, Any]:
    config = {
        "output_dir": output_dir, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1, "learning_rate": 0.003, "lr_scheduler_type": "constant",
        "max_steps": steps, "max_length": 128, "packing": False, "bf16": False,
        "logging_steps": 10, "save_steps": 10_000, "save_strategy": "no", "seed": 42,
        "report_to": "none", "disable_tqdm": True, "completion_only_loss": True,
        "activation_checkpointing": False, "dataloader_num_workers": 0,
    }
    config.update(extra)
    return config


def write_run(root: Path, run_id: str, steps: int, **trainer_extra: Any) -> Path:
    """A compiled run folder (docs/run-format.md) for the tiny model on the alpaca example."""
    out = str(root / run_id / "output")
    run = {
        "peftc_version": "0.1.0", "run_id": run_id, "stage": None, "depends_on": [],
        "output_dir": out,
        "model": {"name_or_path": "peftc:tiny-llama", "family": "llama",
                  "from_pretrained": {"dtype": "float32", "attn_implementation": "sdpa"},
                  "gradient_checkpointing": False, "gradient_checkpointing_kwargs": {}},
        "tokenizer": {"name_or_path": "peftc:tiny-llama", "padding_side": "right",
                      "pad_token": None, "chat_template": None},
        "quantization": None,
        "adapter": {"method": "lora", "peft_class": "LoraConfig", "config": dict(LORA),
                    "prepare_kbit": False, "sft_adapter": None, "relora": None,
                    "loraplus": None},
        "data": {"datasets": [{"path": str(ROOT / "examples/data/alpaca.jsonl"), "local": True,
                               "builder": "json", "name": None, "split": "train",
                               "data_files": None, "type": "alpaca", "fields": {}}],
                 "val_set_size": 0.0, "shuffle_seed": 42, "train_on_inputs": False,
                 "max_prompt_length": None},
        "trainer": {"kind": "sft", "config_class": "SFTConfig",
                    "config": trainer_config(out, steps, **trainer_extra)},
        "samples": {"prompts": [], "max_new_tokens": 32},
        "batch": {"micro_batch_size": 8, "gradient_accumulation_steps": 1, "num_gpus": 1,
                  "global_batch_size": None, "effective_global_batch_size": 8},
        "launch": {"num_processes": 1, "num_machines": 1, "deepspeed": None,
                   "accelerate_config": "accelerate.yaml"},
    }
    run_dir = root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump(run, sort_keys=False))
    return run_dir


def peftc_run(root: Path, steps: int) -> tuple[float, float]:
    """(train-loop seconds, whole-run seconds) through peftc.runtime.run."""
    from peftc.runtime.run import execute

    run_dir = write_run(root, "peftc", steps)
    start = time.perf_counter()
    outcome = execute(run_dir)
    total = time.perf_counter() - start
    assert outcome.exit_code == 0
    return train_runtime(outcome.trainer), total


def train_runtime(trainer: Any) -> float:
    """transformers' own measure of the training loop (the same for both sides)."""
    return next(e["train_runtime"] for e in reversed(trainer.state.log_history)
                if "train_runtime" in e)


def direct_trl_run(root: Path, steps: int) -> tuple[float, float]:
    """The same training written directly against transformers/PEFT/TRL."""
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from peftc.runtime.tiny_model import ensure_tiny_llama

    start = time.perf_counter()
    path = ensure_tiny_llama()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32", attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(**LORA))

    def to_prompt_completion(row: dict[str, str]) -> dict[str, str]:
        prompt = f"### Instruction:\n{row['instruction']}\n\n"
        if row["input"]:
            prompt += f"### Input:\n{row['input']}\n\n"
        return {"prompt": prompt + "### Response:\n", "completion": row["output"]}

    data = load_dataset("json", data_files=str(ROOT / "examples/data/alpaca.jsonl"),
                        split="train")
    data = data.map(to_prompt_completion, remove_columns=data.column_names)
    out = str(root / "direct" / "output")
    trainer = SFTTrainer(model=model, args=SFTConfig(**trainer_config(out, steps)),
                         train_dataset=data, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(out)
    return train_runtime(trainer), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats; the best of each is kept (noisy CPUs)")
    args = parser.parse_args()
    direct, peftc = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        direct_trl_run(root / "warmup", 2)  # imports, model build, kernel warm-up
        for i in range(args.repeats):
            direct.append(direct_trl_run(root / f"direct-{i}", args.steps))
            peftc.append(peftc_run(root / f"peftc-{i}", args.steps))
    direct_loop, direct_total = min(d[0] for d in direct), min(d[1] for d in direct)
    peftc_loop, peftc_total = min(p[0] for p in peftc), min(p[1] for p in peftc)
    steps = args.steps
    print(f"\n{'':14}{'loop steps/s':>14}{'run steps/s':>14}")
    print(f"{'direct TRL':14}{steps / direct_loop:14.2f}{steps / direct_total:14.2f}")
    print(f"{'peftc runtime':14}{steps / peftc_loop:14.2f}{steps / peftc_total:14.2f}")
    print(f"{'ratio':14}{direct_loop / peftc_loop:14.3f}{direct_total / peftc_total:14.3f}"
          "   (peftc / direct, 1.0 = no overhead)")


if __name__ == "__main__":
    main()
