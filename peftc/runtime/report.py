"""Reporting to Weights & Biases: transformers' ``WandbCallback`` does it (``report_to:
[wandb]`` in the trainer's config); this module only checks that wandb is there, hands the
run's ``report.wandb`` settings to it through the environment variables it reads (as Axolotl
does), and uploads the run's compiled config and provenance, so that a W&B run says exactly
what it trained with."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from peftc.runtime.errors import RuntimeConfigError

# run.yaml's report.wandb fields -> the variables transformers' callback and wandb.init read
WANDB_ENV = {"project": "WANDB_PROJECT", "entity": "WANDB_ENTITY", "run_id": "WANDB_RUN_ID",
             "watch": "WANDB_WATCH", "log_model": "WANDB_LOG_MODEL", "mode": "WANDB_MODE"}


def check_wandb(report: dict[str, Any] | None) -> None:
    """Stop before the model loads when the run reports to W&B and wandb is not installed."""
    if (report or {}).get("wandb") and importlib.util.find_spec("wandb") is None:
        raise RuntimeConfigError(
            "the run reports to W&B (wandb_project or use_wandb) but wandb is not installed: "
            "pip install 'peftc[wandb]', or remove the wandb_* keys",
            code="E608", field="report.wandb")


@contextlib.contextmanager
def wandb_environment(report: dict[str, Any] | None, output_dir: Path) -> Iterator[None]:
    """The W&B settings as environment variables while the run trains, restored after. The
    run's W&B files go to its output folder unless ``WANDB_DIR`` says otherwise. A run that
    fails marks its W&B run failed. transformers' callback starts the W&B run but leaves it
    open until the process exits, so the run is finished here."""
    settings = (report or {}).get("wandb")
    if not settings:
        yield
        return
    env = {var: str(settings[field]) for field, var in WANDB_ENV.items()
           if settings.get(field) is not None}
    env.setdefault("WANDB_DIR", os.environ.get("WANDB_DIR") or str(output_dir))
    before = {var: os.environ.get(var) for var in env}
    os.environ.update(env)
    try:
        yield
    except BaseException:
        _finish_wandb_run(exit_code=1)
        raise
    else:  # each run is its own W&B run, also when `peftc run --all` trains several
        _finish_wandb_run(exit_code=0)
    finally:
        for var, value in before.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _finish_wandb_run(exit_code: int) -> None:
    """Finish the W&B run, and W&B's process-wide session: wandb reads its environment
    (WANDB_DIR, WANDB_MODE) once per session, so the next run of ``peftc run --all`` starts
    a new one with its own settings."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)
        wandb.teardown()


class RunFilesCallback(TrainerCallback):
    """Uploads run.yaml and provenance.json into the W&B run (after ``WandbCallback`` has
    started it, which comes first among the trainer's callbacks)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import wandb

        if not state.is_world_process_zero or wandb.run is None:
            return
        for name in ("run.yaml", "provenance.json"):
            if (self.run_dir / name).is_file():
                wandb.save(str(self.run_dir / name), base_path=str(self.run_dir), policy="now")
