"""Run one compiled run: ``run(run_dir)`` reads ``run_dir/run.yaml`` and follows the recipe

    check run.yaml -> tokenizer -> load data -> load model -> apply adapter -> build trainer
    -> train -> save

Exit codes: 0 completed, 1 failed (NaN loss or an unexpected error; see status.json),
130 interrupted (a checkpoint was saved; run again to resume). User-facing problems raise
:class:`peftc.runtime.errors.RuntimeConfigError` with a code and the run.yaml field they concern
(status.json says ``failed`` too); the data is loaded before the model so that its problems
stop the run in seconds.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peftc.runtime.errors import LossError, RuntimeConfigError

if TYPE_CHECKING:
    from peftc.runtime.chat import Masking
    from peftc.runtime.precision import Precision

log = logging.getLogger("peftc.runtime")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def read_run(run_dir: Path) -> dict[str, Any]:
    """The run.yaml of ``run_dir`` as a dict, validated before anything loads: against its
    schema, then its keyword-argument sections against the installed classes."""
    from peftc.runtime.arguments import check_arguments
    from peftc.schema import runfile

    doc = runfile.load(run_dir)
    check_arguments(doc)
    return doc.data


def preflight(spec: dict[str, Any]) -> Precision:
    """Checks that stop the run before any model or data is loaded; returns the precision
    resolved for this machine."""
    from peftc.runtime import precision
    from peftc.runtime.adapter import check_supported
    from peftc.runtime.report import check_wandb

    check_supported(spec["adapter"])
    check_wandb(spec.get("report"))
    check_paths(spec)
    given = spec["trainer"].get("resume_from_checkpoint")
    if given and not Path(given).is_dir():
        raise RuntimeConfigError(f"trainer.resume_from_checkpoint: {given} is not there; train "
                                 "the run it comes from first, or remove the key",
                                 code="E611", field="trainer.resume_from_checkpoint")
    resolved = precision.resolve(spec.get("precision") or {})
    warn_packing(spec["trainer"]["config"], spec["model"]["from_pretrained"])
    return resolved


def check_paths(spec: dict[str, Any]) -> None:
    """The local files the run reads are on this machine. Lint can only warn (W213) about
    an absolute path, or one outside the spec's repository, that it does not see: the run
    may execute where it exists. Here is where it must."""
    for i, entry in enumerate(spec["data"]["datasets"]):
        if entry.get("local") and not Path(entry["path"]).exists():
            raise RuntimeConfigError(f"dataset {entry['path']} is not on this machine",
                                     code="E611", field=f"data.datasets.{i}")
    adapter = spec["adapter"].get("from_adapter")
    if adapter and not (Path(adapter) / "adapter_config.json").is_file():
        raise RuntimeConfigError(f"lora_model_dir: no PEFT adapter (adapter_config.json) at "
                                 f"{adapter} on this machine; train the run that produces it "
                                 "first", code="E611", field="adapter.from_adapter")


WORLD_SIZE_ENV = "PEFTC_WORLD_SIZE"  # set by `peftc launch --allow-world-size-change`


def check_world_size(launch: dict[str, Any], args: Any) -> None:
    """Stop before anything is loaded when this process group is not the one the run was
    compiled for: its gradient accumulation was derived for ``launch.num_processes``, so
    another world size trains another global batch. Every rank checks, so a run started by
    hand under ``torchrun`` or ``accelerate launch`` is covered too. (``accelerate launch
    --multi_gpu`` without GPUs and without ``--cpu`` starts the processes, but each trains
    alone with world size 1.)"""
    expected = int(os.environ.get(WORLD_SIZE_ENV) or launch["num_processes"])
    found, device = args.world_size, args.device
    if found == expected:
        return
    launched = int(os.environ.get("WORLD_SIZE") or 1)  # set by torchrun/accelerate
    alone = (f" ({launched} processes were launched, each training alone)"
             if launched != found else "")
    where = (f"`peftc launch --cpu` runs {expected} processes on CPU; " if device.type == "cpu"
             and expected > 1 else "")
    raise RuntimeConfigError(
        f"this run was compiled for {expected} process(es) but its trainer has world size "
        f"{found} on {device.type}{alone}: its gradient accumulation assumes {expected}, so "
        f"the global batch would not be the spec's. {where}or recompile with --set "
        f"num_gpus={found}, or "
        "`peftc launch --allow-world-size-change` to recompute the accumulation",
        code="E605", field="launch.num_processes")


ISOLATING_ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3")


def warn_packing(config: dict[str, Any], from_pretrained: dict[str, Any]) -> None:
    """Say before training when packed examples will attend to each other: TRL's ``wrapped``
    packing has no example boundaries, and only some attention kernels honour the per-example
    position ids of ``bfd`` packing."""
    if not config.get("packing"):
        return
    attention = from_pretrained.get("attn_implementation") or "sdpa"
    strategy = config.get("packing_strategy", "bfd")
    if strategy == "wrapped" or attention not in ISOLATING_ATTENTION:
        why = ("packing_strategy 'wrapped' keeps no example boundaries" if strategy ==
               "wrapped" else f"attention '{attention}' ignores packed position ids")
        print(f"peftc: warning: packed examples will attend to each other: {why}",
              file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """What :func:`execute` returns: the exit code and, once built, the trainer (for tests and
    benchmarks that look at the trained model)."""

    exit_code: int
    trainer: Any = None


def run(run_dir: Path) -> int:
    """Train the run in ``run_dir``; returns the exit code."""
    return execute(run_dir).exit_code


def execute(run_dir: Path) -> Outcome:
    """:func:`run`, returning the trainer too."""
    from peftc.runtime.outputs import RunOutputs, catch_signals
    from peftc.runtime.report import wandb_environment

    run_dir = Path(run_dir)
    spec = read_run(run_dir)
    outputs = RunOutputs(Path(spec["output_dir"]), run_dir / "run.yaml")
    outputs.start()
    outcome = Outcome(EXIT_FAILED)
    try:
        with catch_signals() as interrupt, \
                wandb_environment(spec.get("report"), Path(spec["output_dir"])):
            train(spec, outputs, interrupt, outcome)
    except RuntimeConfigError as exc:
        outputs.status("failed", error=exc.message, any_rank=True)
        raise
    except LossError as exc:
        outputs.status("failed", error=str(exc))
        print(f"peftc: {exc}", file=sys.stderr, flush=True)
        outcome.exit_code = EXIT_FAILED
    except KeyboardInterrupt:
        outputs.status("interrupted", error="stopped by a second signal before a checkpoint")
        outcome.exit_code = EXIT_INTERRUPTED
    except Exception as exc:
        outputs.status("failed", error=f"{type(exc).__name__}: {exc}", any_rank=True)
        if os.environ.get("PEFTC_DEBUG"):
            traceback.print_exc()
        outcome.exit_code = EXIT_FAILED
    return outcome


def train(spec: dict[str, Any], outputs: Any, interrupt: Any, outcome: Outcome) -> None:
    """The recipe. Each step takes the run.yaml section it is named after."""
    from transformers import set_seed

    from peftc.runtime.adapter import (
        adapter_callbacks,
        apply_adapter,
        initial_adapter_dir,
        loraplus_optimizer,
        trainable_parameters,
    )
    from peftc.runtime.data import load_data
    from peftc.runtime.model import check_new_tokens, load_model, tokenizer_and_new_tokens
    from peftc.runtime.outputs import InterruptCallback, MetricsCallback
    from peftc.runtime.progress import ProgressCallback, print_summary
    from peftc.runtime.relora import (
        full_precision_base,
        jagged_schedule,
        load_base_weights,
        save_base_weights,
    )
    from peftc.runtime.report import RunFilesCallback
    from peftc.runtime.samples import SamplesCallback
    from peftc.runtime.trainer import build_trainer, stopping_callbacks, training_args
    from peftc.runtime.unfreeze import load_unfrozen, save_unfrozen, unfreeze, unfrozen_callback

    precision = preflight(spec)
    adapter, trainer_section = spec["adapter"], spec["trainer"]
    # validates trainer.config up front
    args = training_args(trainer_section, spec["model"], precision)
    check_world_size(spec["launch"], args)
    tokenizer, new_tokens = tokenizer_and_new_tokens(spec["tokenizer"])
    chat = chat_masking(spec["data"], args, tokenizer)
    # the data before the model: a row that does not fit its type stops the run in seconds
    prepared = prepared_data(spec["data"], tokenizer)
    data_stats: dict[str, int] = {}
    train_dataset, eval_dataset = load_data(spec["data"], trainer_section["kind"], tokenizer,
                                            chat, Path(prepared["dir"]), data_stats)
    set_seed(args.seed)  # the adapter's initial weights are the spec's seed's, on every rank
    model = load_model(spec["model"], spec.get("quantization"), adapter, precision.dtype,
                       tokenizer)
    check_new_tokens(model, new_tokens, adapter)
    initial_dir = initial_adapter_dir(adapter, outputs.dir)
    model = apply_adapter(model, adapter, initial_dir)
    relora_full = None  # ReLoRA on a 4/8-bit base restarts into full-precision weights
    if adapter.get("relora") and spec.get("quantization"):
        relora_full = full_precision_base(model, spec["model"], precision.dtype, tokenizer)
    unfrozen = unfreeze(model, adapter.get("unfrozen_parameters"))
    trainable, total = trainable_parameters(model)

    metrics = MetricsCallback(outputs)
    callbacks = [
        *adapter_callbacks(adapter, relora_full),
        ProgressCallback(),
        metrics,
        *stopping_callbacks(trainer_section),
        *([unfrozen_callback(unfrozen)] if unfrozen else []),
        InterruptCallback(interrupt),
        SamplesCallback(spec.get("samples") or {}, tokenizer, outputs.dir),
        *([RunFilesCallback(outputs.run_yaml.parent)] if (spec.get("report") or {}).get("wandb")
          else []),
    ]
    trainer = build_trainer(
        trainer_section["kind"], args, model, tokenizer, train_dataset, eval_dataset, callbacks,
        max_prompt_length=spec["data"].get("max_prompt_length"),
        excess_length=spec["data"]["excess_length"],
    )
    outcome.trainer = trainer
    if trainer_section.get("jagged_lr"):
        jagged_schedule(trainer, trainer_section["jagged_lr"])
    dropped = getattr(trainer, "peftc_dropped", {})
    for name, counts in dropped.items():
        line = counts.report(name, args.max_length)
        if line and trainer.is_world_process_zero():
            print(f"peftc: data: {line}", flush=True)
    if data_stats.get("duplicates_removed") and trainer.is_world_process_zero():
        print(f"peftc: data: removed {data_stats['duplicates_removed']} exact duplicate rows "
              "(dataset_exact_deduplication)", flush=True)
    if adapter.get("loraplus"):
        trainer.optimizer = loraplus_optimizer(trainer.model, adapter["loraplus"], args)

    checkpoint = outputs.last_checkpoint() or trainer_section.get("resume_from_checkpoint")
    if checkpoint:
        print(f"peftc: resuming from {checkpoint}", flush=True)
        if adapter.get("relora"):
            load_base_weights(trainer.model, Path(checkpoint), relora_full)
        load_unfrozen(trainer.model, Path(checkpoint))
    trainer.train(resume_from_checkpoint=checkpoint)
    if eval_dataset is not None and not interrupt.requested:
        evaluate_final_step(trainer)

    outputs.last_step = trainer.state.global_step
    result = metrics.summary(trainer, trainable, total)
    result["precision"] = precision.as_dict()
    result["activation_offloading"] = args.activation_offloading  # as resolved on the machine
    result["prepared_data"] = prepared
    if args.load_best_model_at_end:
        result["best"] = best_checkpoint(trainer, trainer_section)
    if chat is not None:
        result["chat_masking"] = chat.as_dict()
    result["rows_dropped"] = {name: asdict(counts) for name, counts in dropped.items()}
    if "duplicates_removed" in data_stats:
        result["duplicates_removed"] = data_stats["duplicates_removed"]
    outputs.metrics(result)
    if interrupt.requested:
        outputs.status("interrupted")
        print(f"peftc: interrupted at step {trainer.state.global_step}; checkpoint saved in "
              f"{outputs.dir} - run again to resume", flush=True)
        outcome.exit_code = EXIT_INTERRUPTED
        return

    save_adapter(trainer, outputs.dir, initial_dir)
    if adapter.get("relora") and trainer.is_world_process_zero():
        save_base_weights(trainer.model, outputs.dir, relora_full)
    if unfrozen and trainer.is_world_process_zero():
        save_unfrozen(unfrozen, outputs.dir)
    outputs.status("completed")
    if trainer.is_world_process_zero():
        print_summary(result, str(outputs.dir), "completed")
    outcome.exit_code = EXIT_OK


def prepared_data(data: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """Where the run's prepared data is kept, and whether an earlier run prepared it."""
    from peftc.runtime.data import prepared_dir
    from peftc.runtime.outputs import is_main_process

    folder = prepared_dir(data, tokenizer)
    reused = folder.is_dir() and any(folder.iterdir())
    if is_main_process():
        doing = "reusing the prepared data in" if reused else "preparing the data in"
        print(f"peftc: data: {doing} {folder}", flush=True)
    return {"dir": str(folder), "reused": reused}


def best_checkpoint(trainer: Any, section: dict[str, Any]) -> dict[str, Any]:
    """Which evaluation's checkpoint the saved adapter is (transformers loaded it at the end),
    and whether early stopping ended the run; said on the console too."""
    state = trainer.state
    best = {"checkpoint": state.best_model_checkpoint,
            "metric": trainer.args.metric_for_best_model, "value": state.best_metric,
            "stopped_early": bool(section.get("early_stopping_patience"))
            and state.global_step < state.max_steps}
    if trainer.is_world_process_zero():
        if best["stopped_early"]:
            print(f"peftc: early stopping: no better {best['metric']} for "
                  f"{section['early_stopping_patience']} evaluations; stopped at step "
                  f"{state.global_step} of {state.max_steps}", flush=True)
        print(f"peftc: the adapter is the best evaluation's: {best['checkpoint']} "
              f"({best['metric']} {best['value']})", flush=True)
    return best


def chat_masking(data: dict[str, Any], args: Any, tokenizer: Any) -> Masking | None:
    """How the run's chat rows are masked, resolved from the tokenizer's template (None
    without chat rows); TRL's ``assistant_only_loss`` stays on only for TRL's route."""
    if not getattr(args, "assistant_only_loss", False):  # SFT chat rows only
        return None
    from peftc.runtime.chat import masking, options_need_own

    chat = masking(tokenizer, options_need_own(data), eot_tokens=data.get("eot_tokens"),
                   kwargs=data.get("chat_template_kwargs"))
    args.assistant_only_loss = chat.route == "trl"
    return chat


def evaluate_final_step(trainer: Any) -> None:
    """Evaluate the trained adapter unless the last evaluation was at the final step: a run's
    last eval_loss is of what it saved (transformers evaluates only at multiples of eval_steps
    and at epoch ends; Axolotl #1225)."""
    step = trainer.state.global_step
    if not any("eval_loss" in e and e.get("step") == step for e in trainer.state.log_history):
        trainer.evaluate()


def save_adapter(trainer: Any, output_dir: Path, initial_dir: Path | None = None) -> None:
    """Save the trained adapter (PEFT format) and the tokenizer into ``output_dir``.

    PiSSA/OLoRA/CorDA adapters are saved converted against their initial state (PEFT's
    ``path_initial_model_for_weight_conversion``), so they load onto the original base.
    DPOTrainer keeps a frozen copy of the initial adapter named ``ref`` as its implicit
    reference; only the trained ``default`` adapter is the run's result.
    """
    if initial_dir is not None:
        if trainer.is_world_process_zero():
            trainer.model.save_pretrained(
                str(output_dir),
                selected_adapters=["default"],
                path_initial_model_for_weight_conversion=str(initial_dir),
            )
            trainer.processing_class.save_pretrained(str(output_dir))
        return
    trainer.save_model(str(output_dir))
    ref = Path(output_dir) / "ref"
    if trainer.is_world_process_zero() and (ref / "adapter_config.json").exists():
        import shutil

        shutil.rmtree(ref)
