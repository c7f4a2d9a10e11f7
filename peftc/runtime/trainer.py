"""Build the TRL trainer from the ``trainer`` section of run.yaml: ``SFTTrainer(SFTConfig(...))``
or ``DPOTrainer(DPOConfig(...))`` with ``trainer.config`` passed through."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from peftc.runtime.errors import LossWatchdogError, NonFiniteLossError, RuntimeConfigError
from peftc.runtime.precision import Precision
from peftc.vocab.datasets import Trainer
from peftc.vocab.schedulers import axolotl_warmup


def config_kwargs(section: dict[str, Any], model_section: dict[str, Any],
                  precision: Precision) -> dict[str, Any]:
    """``trainer.config`` plus the resolved precision and what the CPU and the model section
    impose.

    - TRL defaults checkpointing to True: the model section's setting is passed on
      unless ``trainer.config`` sets it itself.
    - Without CUDA, bf16 needs ``use_cpu=True`` (CPU autocast); TRL's own bf16 default is
      always overridden by the resolved precision.
    """
    import torch

    kwargs = dict(section.get("config") or {})
    stray = sorted(k for k in ("bf16", "fp16", "tf32") if k in kwargs)
    if stray:  # the precision section is the one place: a second one would be overridden
        raise RuntimeConfigError(f"trainer.config.{stray[0]}: precision is set in run.yaml's "
                                 "precision section (bf16, fp16, tf32), not here", code="E601",
                                 field=f"trainer.config.{stray[0]}")
    kwargs.update(bf16=precision.bf16, fp16=precision.fp16, tf32=precision.tf32 or None)
    override = os.environ.get("PEFTC_GRADIENT_ACCUMULATION_STEPS")
    if override:  # set by `peftc launch --allow-world-size-change`; metrics.json records it
        kwargs["gradient_accumulation_steps"] = int(override)
    if "gradient_checkpointing" not in kwargs:  # the pre-5.23 name, if a run still uses it
        kwargs.setdefault("activation_checkpointing",
                          bool(model_section.get("gradient_checkpointing")))
        if kwargs["activation_checkpointing"]:
            kwargs.setdefault("activation_checkpointing_kwargs",
                              model_section.get("gradient_checkpointing_kwargs"))
    if kwargs.get("activation_offloading") and not torch.accelerator.is_available():
        # TRL's offloading moves activations from the accelerator to CPU memory: without one,
        # they are in CPU memory already (and TRL would fail looking for the device)
        kwargs["activation_offloading"] = False
        print("peftc: activation_offloading: no GPU here, the activations stay in CPU memory",
              flush=True)
    if not torch.cuda.is_available():
        kwargs.setdefault("dataloader_pin_memory", False)  # nothing to pin to without a GPU
        if precision.bf16:
            kwargs["use_cpu"] = True
    return kwargs


def training_args(section: dict[str, Any], model_section: dict[str, Any],
                  precision: Precision) -> Any:
    """``SFTConfig(**kwargs)`` or ``DPOConfig(**kwargs)``, with the warmup cap applied."""
    import trl

    config_class = section["config_class"]  # run.yaml's schema holds it to TRL's two
    try:
        args = getattr(trl, config_class)(**config_kwargs(section, model_section, precision))
    except (TypeError, ValueError) as exc:
        raise RuntimeConfigError(f"trainer.config: {config_class} rejected it: {exc}",
                                 code="E601", field="trainer.config") from exc
    if 0 < args.warmup_steps < 1:  # a ratio of the steps, known once the data is loaded
        cap = section.get("max_warmup_steps")
        args.get_warmup_steps = AxolotlWarmup(float(args.warmup_steps),
                                              None if cap is None else int(cap))
    return args


@dataclass(frozen=True)
class AxolotlWarmup:
    """``TrainingArguments.get_warmup_steps`` for a ratio, as Axolotl converts it:
    int(ratio x steps), capped for its default warmup, one step made two
    (``schedulers.axolotl_warmup``). Hand-written: transformers rounds a ratio up and takes no
    cap, and the step count is known only inside ``Trainer.train``. A class, so that the
    arguments still pickle into each checkpoint's training_args.bin."""

    ratio: float
    cap: int | None

    def __call__(self, num_training_steps: int) -> int:
        return axolotl_warmup(self.ratio, num_training_steps, self.cap)


def guard_finite_loss(trainer: Any) -> None:
    """Stop on the first NaN/inf training loss. Hand-written: transformers only filters NaN out
    of its logs (``logging_nan_inf_filter``) and keeps training on garbage."""
    import torch

    step_fn = trainer.training_step

    def checked_training_step(*args: Any, **kwargs: Any) -> Any:
        loss = step_fn(*args, **kwargs)
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(trainer.state.global_step + 1, float(loss.float().mean()))
        return loss

    trainer.training_step = checked_training_step


def stopping_callbacks(section: dict[str, Any]) -> list[Any]:
    """transformers' ``EarlyStoppingCallback`` for ``early_stopping_patience``, and the loss
    watchdog."""
    from transformers import EarlyStoppingCallback

    callbacks: list[Any] = []
    if section.get("early_stopping_patience"):
        callbacks.append(EarlyStoppingCallback(section["early_stopping_patience"]))
    if section.get("loss_watchdog"):
        callbacks.append(loss_watchdog(**section["loss_watchdog"]))
    return callbacks


def loss_watchdog(threshold: float, patience: int) -> Any:
    """Axolotl's loss watchdog: stop when ``patience`` logged losses in a row are above
    ``threshold``. Hand-written (transformers has none); each logged loss counts once, where
    Axolotl's counts the last one again at every step."""
    from transformers import TrainerCallback

    class LossWatchdog(TrainerCallback):
        def __init__(self) -> None:
            self.high: list[float] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
                   **kw: Any) -> None:
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            self.high = [*self.high, loss] if loss > threshold else []
            if len(self.high) >= patience:
                raise LossWatchdogError(state.global_step, threshold, self.high)

    return LossWatchdog()


@dataclass
class RowsDropped:
    """Rows a dataset lost or had cut before training, and why (recorded in metrics.json)."""

    rows: int = 0
    too_long: int = 0
    truncated: int = 0
    nothing_trained: int = 0

    def report(self, name: str, limit: int) -> str | None:
        parts = []
        if self.too_long:
            parts.append(f"dropped {self.too_long} longer than sequence_len ({limit} tokens)")
        if self.truncated:
            parts.append(f"truncated {self.truncated} to sequence_len ({limit} tokens)")
        if self.nothing_trained:
            parts.append(f"dropped {self.nothing_trained} with no trained token")
        return f"{' and '.join(parts)} of {self.rows} {name} rows" if parts else None


def fit_to_length(dataset: Any, strategy: str, limit: int, length: Any, cut: Any,
                  name: str, dropped: RowsDropped, gone: int = 0) -> Any:
    """Axolotl's ``excess_length_strategy`` on tokenized rows: those longer than ``limit``
    (``length(row)``) are dropped, cut (``cut(row)``, or None where a row cannot be cut) or
    stop the run (E609); ``dropped`` counts them, with ``gone`` long rows already dropped."""
    dropped.too_long = gone
    if strategy == "drop":  # the default: one pass
        kept = dataset.filter(lambda row: length(row) <= limit)
        dropped.too_long += len(dataset) - len(kept)
        return kept
    long = dataset.filter(lambda row: length(row) > limit)
    if strategy == "raise" and len(long) + gone:
        raise RuntimeConfigError(
            f"data: {len(long) + gone} of {dropped.rows} {name} rows are longer than "
            f"sequence_len ({limit} tokens) and excess_length_strategy is raise; raise "
            "sequence_len, shorten the rows, or set excess_length_strategy to drop or truncate",
            code="E609", field="data.excess_length")
    if not len(long):
        return dataset
    uncut = long.filter(lambda row: cut(row) is None)  # truncate
    dropped.truncated = len(long) - len(uncut)
    dropped.too_long += len(uncut)
    kept = dataset.filter(lambda row: length(row) <= limit or cut(row) is not None)
    return kept.map(lambda row: cut(row) if length(row) > limit else row)


def cut_sft_row(limit: int) -> Any:
    """An SFT row's token columns kept to their first ``limit`` entries (as Axolotl's
    ``truncate_long_seq``: every column as long as ``input_ids``)."""

    def cut(row: dict[str, Any]) -> dict[str, Any]:
        n = len(row["input_ids"])
        return {k: v[:limit] if isinstance(v, list) and len(v) == n else v
                for k, v in row.items()}

    return cut


@functools.cache
def sft_trainer_class(excess_length: str) -> Any:
    """``trl.SFTTrainer`` that handles the rows longer than ``max_length`` as
    ``excess_length`` says (drop, truncate, raise) and counts them.

    Hand-written: Axolotl drops such rows by default, while TRL 1.16 truncates them and
    silently drops rows the truncation left with no trained token, so a long prompt would train
    on a cut answer, or an evaluation set could end up empty. This tokenizes through TRL
    without truncation, handles the long rows, drops and counts the rows with no trained
    token, then packs as TRL does."""
    import trl
    from trl.data_utils import pack_dataset

    class LengthCheckedSFTTrainer(trl.SFTTrainer):
        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any,
                             packing: bool, formatting_func: Any, dataset_name: str) -> Any:
            limit, shuffle = args.max_length, args.shuffle_dataset
            if packing and limit is None:
                raise RuntimeConfigError("trainer.config: packing needs max_length",
                                         code="E601", field="trainer.config.packing")
            args.max_length, args.shuffle_dataset = None, False
            try:
                dataset = super()._prepare_dataset(dataset, processing_class, args, False,
                                                   formatting_func, dataset_name)
            finally:
                args.max_length, args.shuffle_dataset = limit, shuffle
            dropped = RowsDropped(rows=len(dataset))
            if limit is not None:
                dataset = fit_to_length(dataset, excess_length, limit,
                                        lambda row: len(row["input_ids"]), cut_sft_row(limit),
                                        dataset_name, dropped)
            kept = len(dataset)
            dataset = dataset.filter(lambda row: any(x != -100 for x in row["labels"]))
            dropped.nothing_trained = kept - len(dataset)
            self.peftc_dropped = {**getattr(self, "peftc_dropped", {}), dataset_name: dropped}
            if len(dataset) == 0:
                raise RuntimeConfigError(
                    f"data: no {dataset_name} rows left to train on: "
                    f"{dropped.report(dataset_name, limit)}; raise sequence_len or shorten "
                    "them", code="E615", field="data.datasets")
            if packing:  # as TRL packs: shuffled first, so neighbours are unrelated
                dataset = dataset.select_columns(["input_ids", "labels"])
                if shuffle:
                    dataset = dataset.shuffle(seed=args.seed)
                dataset = pack_dataset(dataset, limit, args.packing_strategy,
                                       {"num_proc": args.dataset_num_proc})
            return dataset.shuffle(seed=args.seed) if shuffle else dataset

    return LengthCheckedSFTTrainer


def fit_dpo_rows(trainer: Any, strategy: str, limit: int, given: dict[str, int]) -> None:
    """``excess_length_strategy`` on the DPO trainer's tokenized rows (prompt plus the longer
    answer): dropped or refused as Axolotl does; truncate leaves the cut to TRL's collator
    (``max_length``, keeping the start). TRL has dropped the rows whose prompt alone fills
    ``max_length`` (they cannot be cut): they count as too long. ``given``: the rows each
    dataset had before TRL's tokenization."""

    def length(row: dict[str, Any]) -> int:
        return len(row["prompt_ids"]) + max(len(row["chosen_ids"]), len(row["rejected_ids"]))

    for name, rows in given.items():
        dataset = getattr(trainer, f"{name}_dataset")
        dropped = RowsDropped(rows=rows)
        dataset = fit_to_length(dataset, strategy, limit, length, lambda row: row, name,
                                dropped, gone=rows - len(dataset))
        trainer.peftc_dropped = {**getattr(trainer, "peftc_dropped", {}), name: dropped}
        if len(dataset) == 0:
            raise RuntimeConfigError(f"data: no {name} rows left to train on: "
                                     f"{dropped.report(name, limit)}; raise sequence_len or "
                                     "shorten them", code="E615", field="data.datasets")
        setattr(trainer, f"{name}_dataset", dataset)


def build_trainer(
    kind: str,
    args: Any,
    model: Any,
    tokenizer: Any,
    train_dataset: Any,
    eval_dataset: Any,
    callbacks: list[Any],
    excess_length: str,
    max_prompt_length: int | None = None,
) -> Any:
    """The TRL trainer for ``kind``. DPO gets ``ref_model=None``: with a PEFT model TRL uses the
    adapter's initial state as the implicit reference, so only one model is in memory."""
    import trl

    if eval_dataset is None and getattr(args, "eval_strategy", "no") not in ("no", None):
        raise RuntimeConfigError(
            "trainer.config.eval_strategy is set but there is no evaluation data "
            "(data.val_set_size is 0)", code="E615", field="trainer.config.eval_strategy"
        )
    common = dict(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    if Trainer(kind) is Trainer.DPO:
        trainer = trl.DPOTrainer(ref_model=None, **common)
        if max_prompt_length:
            from peftc.runtime.data import truncate_prompt_ids

            bos = tokenizer.bos_token_id
            trainer.train_dataset = truncate_prompt_ids(
                trainer.train_dataset, max_prompt_length, bos)
            if trainer.eval_dataset is not None:
                trainer.eval_dataset = truncate_prompt_ids(
                    trainer.eval_dataset, max_prompt_length, bos)
        if args.max_length is not None:
            given = {"train": len(train_dataset),
                     **({"eval": len(eval_dataset)} if eval_dataset is not None else {})}
            fit_dpo_rows(trainer, excess_length, args.max_length, given)
    else:
        trainer = sft_trainer_class(excess_length)(**common)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    # peftc's ProgressCallback (a subclass of transformers' bar) prints readable lines instead
    handler = trainer.callback_handler
    handler.callbacks = [cb for cb in handler.callbacks
                         if type(cb) not in (PrinterCallback, ProgressCallback)]
    guard_finite_loss(trainer)
    return trainer
