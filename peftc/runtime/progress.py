"""Human-readable progress: transformers' tqdm bar, with one readable line per logging step
instead of the raw log dicts it prints, and a one-screen summary at the end."""

from __future__ import annotations

import sys
import time
from typing import Any

from transformers.trainer_callback import ProgressCallback as BarCallback


def fmt_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:d}:{secs:02d}"


class ProgressCallback(BarCallback):
    """The progress bar, and ``step 10/200  loss 1.2345  lr 2.00e-04  1,234 tok/s  0:12`` on
    every log (written above the bar, in place of transformers' dict)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self.start = time.time()
        self.last_time = self.start
        self.last_tokens: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any):
        super().on_train_begin(args, state, control, **kw)
        self.start = self.last_time = time.time()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any):
        logs = logs or {}
        if not state.is_world_process_zero or ("loss" not in logs and "eval_loss" not in logs):
            return
        now = time.time()
        parts = [f"step {state.global_step}/{state.max_steps}"]
        if "loss" in logs:
            parts.append(f"loss {logs['loss']:.4f}")
        if "eval_loss" in logs:
            parts.append(f"eval_loss {logs['eval_loss']:.4f}")
        if "learning_rate" in logs:
            parts.append(f"lr {logs['learning_rate']:.2e}")
        if "num_tokens" in logs:
            tokens = int(logs["num_tokens"])
            if self.last_tokens is not None and now > self.last_time:
                parts.append(f"{(tokens - self.last_tokens) / (now - self.last_time):,.0f} tok/s")
            self.last_tokens = tokens
        parts.append(fmt_seconds(now - self.start))
        self.last_time = now
        line = "  ".join(parts)
        if self.training_bar is not None:
            self.training_bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def print_summary(
    metrics: dict[str, Any], output_dir: str, status: str, stream: Any = None
) -> None:
    """The end-of-run summary."""
    stream = stream or sys.stdout
    trainable, total = metrics["trainable_parameters"], metrics["total_parameters"]
    share = 100 * trainable / total if total else 0.0
    final = metrics["final_loss"]
    lines = [
        "",
        f"peftc run {status}",
        f"  steps            {metrics['global_step']}/{metrics['max_steps']}",
        f"  final loss       {final:.4f}" if final is not None else "  final loss       -",
        f"  train time       {fmt_seconds(metrics['train_seconds'])}"
        f" (wall {fmt_seconds(metrics['wall_time_seconds'])})",
        f"  tokens/s         {metrics['tokens_per_second']:,.0f}",
        f"  trainable params {trainable:,} of {total:,} ({share:.2f}%)",
        f"  peak memory      {metrics['peak_memory_mb']:,.0f} MiB",
        f"  adapter          {output_dir}",
    ]
    print("\n".join(lines), file=stream, flush=True)
