"""Sample generations during training: at each evaluation, generate a completion for every
``samples.prompts`` entry and append ``{step, prompt, completion}`` lines to ``samples.jsonl``.
Hand-written: transformers' Trainer evaluates losses only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """Greedy completion of ``prompt`` (the prompt itself is not returned)."""
    import torch

    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.no_grad():
        out = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


class SamplesCallback(TrainerCallback):
    """Append generations for the sample prompts to ``samples.jsonl`` after each evaluation."""

    def __init__(self, section: dict[str, Any], tokenizer: Any, output_dir: Path) -> None:
        self.prompts = list(section.get("prompts") or [])
        self.max_new_tokens = int(section.get("max_new_tokens") or 64)
        self.tokenizer = tokenizer
        self.path = Path(output_dir) / "samples.jsonl"

    def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any):
        if not self.prompts or not state.is_world_process_zero:
            return
        was_training = model.training
        model.eval()
        try:
            rows = [
                {"step": state.global_step, "prompt": p,
                 "completion": generate(model, self.tokenizer, p, self.max_new_tokens)}
                for p in self.prompts
            ]
        finally:
            model.train(was_training)
        with open(self.path, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
