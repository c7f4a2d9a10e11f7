"""The learning-rate schedulers (``lr_scheduler``, transformers' ``SchedulerType``): one
record each, with what its transformers function takes.

The schema's enum, the compiler (the min-LR floor) and the scheduler rules (E701-E705,
W160-W162) read them from here; ``tests/test_vocab.py`` checks each record against the
installed transformers' scheduler functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple


class Scheduler(NamedTuple):
    """One value of ``lr_scheduler``."""

    name: str
    # keyword arguments its function takes besides the optimizer and the step counts the
    # Trainer passes itself; None: get_scheduler calls it without lr_scheduler_kwargs
    accepts: frozenset[str] | None
    min_lr: bool = False  # decays to a floor: cosine_min_lr_ratio becomes its min_lr_rate
    warmup: bool = True  # built with the warmup step count
    required: tuple[str, ...] = ()  # arguments without a default
    evaluates: bool = False  # steps on the evaluation loss, so needs evaluation
    choices: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # argument -> values
    unit: tuple[str, ...] = ()  # arguments within 0..1 (shares of the peak rate)
    below_one: tuple[str, ...] = ()  # arguments that must be below 1


def _s(name: str, *accepts: str, **facts: Any) -> Scheduler:
    return Scheduler(name, frozenset({*accepts, "last_epoch"}), **facts)


_COSINE_MIN = ("num_cycles", "min_lr", "min_lr_rate")
_WSD_SHAPES = ("linear", "cosine", "1-sqrt")

_ALL = (
    _s("linear"),
    _s("cosine", "num_cycles"),
    _s("cosine_with_restarts", "num_cycles"),
    _s("polynomial", "lr_end", "power"),
    Scheduler("constant", None, warmup=False),
    Scheduler("constant_with_warmup", None),
    _s("inverse_sqrt", "timescale"),
    Scheduler("reduce_lr_on_plateau", frozenset({
        "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr",
        "eps"}), warmup=False, evaluates=True,
        choices={"mode": ("min", "max"), "threshold_mode": ("rel", "abs")},
        below_one=("factor",)),
    _s("cosine_with_min_lr", *_COSINE_MIN, min_lr=True, unit=("min_lr_rate",)),
    _s("cosine_warmup_with_min_lr", *_COSINE_MIN, "warmup_lr_rate", min_lr=True,
       unit=("min_lr_rate",)),
    _s("warmup_stable_decay", "num_decay_steps", "num_stable_steps", "warmup_type",
       "decay_type", "min_lr_ratio", "num_cycles", required=("num_decay_steps",),
       choices={"warmup_type": _WSD_SHAPES, "decay_type": _WSD_SHAPES},
       unit=("min_lr_ratio",)),
)

SCHEDULERS: Mapping[str, Scheduler] = MappingProxyType({s.name: s for s in _ALL})
NAMES: tuple[str, ...] = tuple(SCHEDULERS)  # the schema's enum, in this order
DEFAULT = "cosine"  # Axolotl's


def scheduler(name: Any) -> Scheduler | None:
    """The record of an ``lr_scheduler`` value, or None for a value that names none."""
    return SCHEDULERS.get(name) if isinstance(name, str) else None


# Axolotl's warmup (its trainer builder, _configure_warmup_and_logging): a ratio of the steps
# becomes int(ratio x steps) steps, and with neither warmup_steps nor warmup_ratio set it is
# min(int(0.03 x steps), 100); in every case one step is made two.
AXOLOTL_WARMUP_RATIO, AXOLOTL_WARMUP_CAP = 0.03, 100


def axolotl_warmup(ratio: float, steps: int, cap: int | None = None) -> int:
    """Axolotl's warmup steps for ``ratio`` of ``steps`` (at most ``cap``). transformers would
    round the ratio up (math.ceil) and keep one step one."""
    count = max(int(ratio * steps), 0)
    if cap is not None:
        count = min(count, cap)
    return 2 if count == 1 else count
