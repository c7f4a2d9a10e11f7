"""What a run writes into ``output_dir``, and how it stops.

- ``status.json``: ``running`` | ``completed`` | ``failed`` | ``interrupted``, the last step and
  the error, rewritten at every step;
- ``metrics.json``: loss curve, learning rates, tokens/s, wall time, peak memory, world size;
- a copy of ``run.yaml``; the adapter and tokenizer are saved by the trainer.

SIGINT/SIGTERM ask the trainer to save a checkpoint and stop (status ``interrupted``); a rerun
resumes from the last checkpoint. Only the main process writes files. All of this is hand-written:
transformers' Trainer has no run status, no signal handling and no metrics file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

STATUS = "status.json"
METRICS = "metrics.json"


def is_main_process() -> bool:
    """Rank 0 (or no distributed launcher at all)."""
    return int(os.environ.get("RANK", "0")) == 0


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")  # ranks may write at once
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def peak_memory_mb() -> float:
    """Peak resident memory of this process (and peak CUDA memory when there is a GPU), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            peak = max(peak, torch.cuda.max_memory_allocated() / 2**20)
    return round(peak, 1)


STATUS_EVERY_SECONDS = 5.0  # how often status.json's last_step is refreshed while training


class RunOutputs:
    """The files of one run's ``output_dir``."""

    def __init__(self, output_dir: Path, run_yaml: Path) -> None:
        self.dir = Path(output_dir)
        self.run_yaml = Path(run_yaml)
        self.main = is_main_process()
        self.started = time.time()
        self.last_step = 0

    def start(self) -> None:
        """Create the folder, copy run.yaml, mark the run ``running``."""
        if not self.main:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.run_yaml, self.dir / "run.yaml")
        self.status("running")

    def status(self, state: str, error: str | None = None, *, any_rank: bool = False) -> None:
        """Rewrite ``status.json``. The main process keeps it; with ``any_rank`` (a failure),
        any process says why: when another rank fails first, the launcher kills the main
        process before it can."""
        if not (self.main or any_rank):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / STATUS, {
            "status": state,
            "last_step": self.last_step,
            "error": error,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "pid": os.getpid(),
        })

    def metrics(self, data: dict[str, Any]) -> None:
        """Write ``metrics.json``."""
        if self.main:
            write_json(self.dir / METRICS, data)

    def last_checkpoint(self) -> str | None:
        """The newest ``checkpoint-N`` folder in ``output_dir``, to resume from."""
        if not self.dir.is_dir():
            return None
        from transformers.trainer_utils import get_last_checkpoint

        return get_last_checkpoint(str(self.dir))


class MetricsCallback(TrainerCallback):
    """Collect the loss curve, learning rates and token throughput; keep status.json current."""

    def __init__(self, outputs: RunOutputs) -> None:
        self.outputs = outputs
        self.loss: list[dict[str, float]] = []
        self.learning_rate: list[dict[str, float]] = []
        self.eval_loss: list[dict[str, float]] = []
        self.rewards: list[dict[str, float]] = []  # DPO: rewards/margins, accuracies, ...
        self.tokens = 0
        self.train_start = time.time()
        self.train_seconds = 0.0
        self.last_status = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any):
        self.train_start = time.time()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any):
        self.outputs.last_step = state.global_step
        now = time.time()
        if now - self.last_status >= STATUS_EVERY_SECONDS:  # not every step: it costs I/O
            self.outputs.status("running")
            self.last_status = now

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any):
        logs = logs or {}
        step = state.global_step
        if "loss" in logs:
            self.loss.append({"step": step, "loss": float(logs["loss"])})
        if "learning_rate" in logs:
            self.learning_rate.append({"step": step, "learning_rate": float(logs["learning_rate"])})
        if "eval_loss" in logs:
            self.eval_loss.append({"step": step, "eval_loss": float(logs["eval_loss"])})
        rewards = {k: float(v) for k, v in logs.items() if k.startswith("rewards/")}
        if rewards:
            self.rewards.append({"step": step, **rewards})
        if "num_tokens" in logs:
            self.tokens = int(logs["num_tokens"])  # TRL counts the tokens this process trained on

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any):
        self.train_seconds = time.time() - self.train_start

    def tokens_per_second(self) -> float:
        seconds = self.train_seconds or (time.time() - self.train_start)
        return round(self.tokens / seconds, 1) if seconds > 0 else 0.0

    def summary(self, trainer: Any, trainable: int, total: int) -> dict[str, Any]:
        """Everything metrics.json holds."""
        final = self.loss[-1]["loss"] if self.loss else None
        return {
            "global_step": trainer.state.global_step,
            "max_steps": trainer.state.max_steps,
            "final_loss": final,
            "loss": self.loss,
            "learning_rate": self.learning_rate,
            "eval_loss": self.eval_loss,
            "rewards": self.rewards,
            "tokens_seen": self.tokens,
            "tokens_per_second": self.tokens_per_second(),
            "train_seconds": round(self.train_seconds, 3),
            # from the run's start to its first step: loading, data preparation, trainer
            "seconds_to_first_step": round(self.train_start - self.outputs.started, 3),
            "wall_time_seconds": round(time.time() - self.outputs.started, 3),
            "peak_memory_mb": peak_memory_mb(),
            "world_size": trainer.args.world_size,
            "launch_command": os.environ.get("PEFTC_LAUNCH_COMMAND") or shlex.join(sys.argv),
            "gradient_accumulation_steps": trainer.args.gradient_accumulation_steps,
            "trainable_parameters": trainable,
            "total_parameters": total,
        }


class Interrupt:
    """SIGINT/SIGTERM -> a flag the :class:`InterruptCallback` turns into save-and-stop."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signal = signum
        print(f"\npeftc: {signal.Signals(signum).name} received: saving a checkpoint and stopping "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    @property
    def requested(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def catch_signals() -> Iterator[Interrupt]:
    """Install the interrupt handler for SIGINT and SIGTERM (main thread only), restore after."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupt
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class InterruptCallback(TrainerCallback):
    """After the step in which a signal arrived: save a checkpoint and stop training."""

    def __init__(self, interrupt: Interrupt) -> None:
        self.interrupt = interrupt

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any):
        if self.interrupt.requested:
            control.should_save = True
            control.should_training_stop = True


def is_finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
