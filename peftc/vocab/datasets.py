"""The dataset types peftc reads (``datasets[].type``) and the trainers they feed: one record
each.

A record says which trainer takes the type and which function of
``peftc/runtime/formatters.py`` turns one of its rows into TRL's format (with the keyword
options the type passes it). The schema's enum, the compiler's checks and lint's row check,
the fixer and the runtime read them from here. ``docs/contributing.md`` shows what adding a
type takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple


class Trainer(Enum):
    """The trainer a run uses (run.yaml's ``trainer.kind``): TRL's SFTTrainer or DPOTrainer."""

    SFT = "sft"
    DPO = "dpo"

    @property
    def config_class(self) -> str:
        """TRL's training-arguments class for this trainer (SFTConfig, DPOConfig)."""
        return f"{self.name}Config"

    @classmethod
    def of(cls, rl: Any) -> Trainer:
        """The trainer a spec's ``rl`` value asks for (unset: SFT)."""
        return cls.DPO if rl == cls.DPO.value else cls.SFT


class Rows(Enum):
    """What a type's formatter makes of a row, and so how the runtime goes on with it."""

    TEXT = "text"  # prompt/completion (or plain text): TRL tokenizes and masks the prompt
    SEGMENTS = "segments"  # input_output's labelled segments: peftc tokenizes and masks them
    MESSAGES = "messages"  # a conversation: a chat template renders it, and masks
    PREFERENCE = "preference"  # prompt, chosen and rejected for DPO


class DatasetType(NamedTuple):
    """One value of ``datasets[].type``."""

    name: str
    trainer: Trainer
    formatter: str  # the function of peftc/runtime/formatters.py that formats one row
    options: Mapping[str, Any] = MappingProxyType({})  # its keyword arguments
    rows: Rows = Rows.TEXT
    keeps_columns: bool = False  # a row keeps its other columns (DPO metadata)

    @property
    def chat(self) -> bool:
        """An SFT conversation: takes the chat options (roles_to_train, train_on_eos, ...)."""
        return self.rows is Rows.MESSAGES and self.trainer is Trainer.SFT


def _sft(name: str, formatter: str, **facts: Any) -> DatasetType:
    return DatasetType(name, Trainer.SFT, formatter, **facts)


def _dpo(name: str, formatter: str, **facts: Any) -> DatasetType:
    return DatasetType(name, Trainer.DPO, formatter, rows=Rows.PREFERENCE, **facts)


# Axolotl's fixed-markup DPO types (``chatml.*``, ``llama3.*``): the family's (system turn,
# user turn + assistant header, end of turn), as axolotl/prompt_strategies/dpo writes them
_MARKUP = {
    "chatml": ("<|im_start|>system\n{}<|im_end|>\n",
               "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"),
    "llama3": ("<|start_header_id|>system<|end_header_id|>\n\n{}<|eot_id|>",
               "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),
}
# their variants: which columns a row's prompt and answers come from
MARKUP_VARIANTS = ("default", "intel", "icr", "prompt_pairs", "ultra", "argilla_chat")

_ALL = (
    _sft("alpaca", "format_alpaca"),
    *(_sft(f"alpaca:{style}", "format_alpaca", options={"style": style})
      for style in ("chat", "chatml", "phi")),
    _sft("alpaca_plain", "format_alpaca_plain"),
    _sft("completion", "format_completion"),
    _sft("input_output", "format_input_output", rows=Rows.SEGMENTS),
    _sft("chat_template", "format_chat_template", rows=Rows.MESSAGES),
    _sft("metamath", "format_metamath"),
    _sft("magicoder", "format_magicoder"),
    _sft("csqa", "format_csqa"),
    _dpo("preference", "format_preference", keeps_columns=True),
    _dpo("chat_template.default", "format_chat_preference"),
    _dpo("chat_template.argilla_chat", "format_chat_preference",
         options={"conversations": True}),
    *(_dpo(f"{family}.{variant}", "format_markup_preference",
           options={"family": family, "markup": markup, "variant": variant})
      for family, markup in _MARKUP.items() for variant in MARKUP_VARIANTS),
)

DATASET_TYPES: Mapping[str, DatasetType] = MappingProxyType({t.name: t for t in _ALL})
NAMES: tuple[str, ...] = tuple(DATASET_TYPES)  # the schema's enum, in this order
# a dataset entry without a type
DEFAULT_TYPE = MappingProxyType({Trainer.SFT: "alpaca", Trainer.DPO: "preference"})
# a DPO type written without its variant, as Axolotl resolves it
DPO_BARE = MappingProxyType({"chat_template": "chat_template.default"})
# Axolotl's DPO type names that no longer exist -> their current names (Axolotl #2303)
DPO_RENAMED = MappingProxyType({"chatml.argilla": "chatml.default",
                                "llama3.argilla": "llama3.default"})


def dataset_type(name: Any) -> DatasetType | None:
    """The record of a ``type`` value, or None for a value that names no type."""
    return DATASET_TYPES.get(name) if isinstance(name, str) else None


def names_for(trainer: Trainer) -> tuple[str, ...]:
    """The types ``trainer`` takes, in the schema's order."""
    return tuple(t.name for t in _ALL if t.trainer is trainer)
