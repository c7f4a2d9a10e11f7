"""The adapter methods peftc trains (the ``adapter`` key): one record each.

The schema's enum, the compiler's method layer and run.yaml's PEFT config, the rules, the plan,
the summary and the runtime all read a method's facts from here. To add a method, add a record;
``docs/contributing.md`` walks through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple


class Peft(Enum):
    """The PEFT config class a method builds: run.yaml's ``adapter.peft_class``, which the
    runtime looks up in ``peft`` by this name."""

    LORA = "LoraConfig"
    ADALORA = "AdaLoraConfig"
    IA3 = "IA3Config"
    PROMPT_TUNING = "PromptTuningConfig"
    PREFIX_TUNING = "PrefixTuningConfig"
    P_TUNING = "PromptEncoderConfig"

    @property
    def prompt_learning(self) -> bool:
        """Virtual tokens before the input, no target modules (nothing to save beside them)."""
        return self in (Peft.PROMPT_TUNING, Peft.PREFIX_TUNING, Peft.P_TUNING)


# PEFT's init_lora_weights values that peftc names
INIT_LOFTQ = "loftq"
# initialisations that change the base weights (the residual of an SVD or QR): their trained
# adapter is saved as the difference to the untrained one, a plain LoRA on the original base
MUTATING_INITS = ("pissa", "olora", "corda")
# PEFT's LoftQConfig defaults, as peftc writes them (the schema's defaults too)
LOFTQ_DEFAULTS: Mapping[str, int] = MappingProxyType({"loftq_bits": 4, "loftq_iter": 1})


class Method(NamedTuple):
    """One value of the ``adapter`` key. (A NamedTuple, as all records here: immutable, and
    a tenth of a dataclass's cost to define, which lint pays at every start.)"""

    name: str
    peft: Peft
    note: str  # summary.md's line: what run.yaml builds for it
    # spec keys the method layer sets beneath the spec (``method:NAME`` in provenance)
    preset: Mapping[str, Any] = MappingProxyType({})
    init_from: str | None = None  # the spec key whose value becomes init_lora_weights
    quantizes: bool = False  # loads the base model in 4 bits (Axolotl's qlora)
    axolotl: bool = False  # one of Axolotl's own adapter values

    @property
    def lora(self) -> bool:
        """A LoraConfig: reads lora_r, DoRA, rsLoRA, the init and LoRA+."""
        return self.peft is Peft.LORA

    @property
    def lora_like(self) -> bool:
        """Low-rank adapters on target modules (LoRA and AdaLoRA): alpha, dropout, targets."""
        return self.peft in (Peft.LORA, Peft.ADALORA)

    @property
    def prompt_learning(self) -> bool:
        return self.peft.prompt_learning


def _lora(name: str, note: str, **facts: Any) -> Method:
    return Method(name, Peft.LORA, note, **facts)


_ALL = (
    _lora("lora", "LoraConfig without init_lora_weights (peft default).", axolotl=True),
    _lora("qlora", "LoraConfig like lora; base model loaded in 4-bit NF4 with double "
          "quantization.", preset={"load_in_4bit": True}, quantizes=True, axolotl=True),
    _lora("dora", "LoraConfig with use_dora=True.", preset={"peft_use_dora": True}),
    _lora("rslora", "LoraConfig with use_rslora=True (scale alpha/sqrt(r)).",
          preset={"peft_use_rslora": True}),
    _lora("pissa", "LoraConfig with init_lora_weights=pissa_init_mode.",
          init_from="pissa_init_mode"),
    _lora("olora", "LoraConfig with init_lora_weights=olora.",
          preset={"peft_init_lora_weights": "olora"}),
    _lora("loftq", "LoraConfig with init_lora_weights=loftq and loftq_config.",
          preset={"peft_init_lora_weights": INIT_LOFTQ, "loftq_config": dict(LOFTQ_DEFAULTS)}),
    _lora("loraplus", "LoraConfig like lora; optimizer uses LoRA+ param grouping.",
          preset={"loraplus_lr_ratio": 20.0}),
    Method("adalora", Peft.ADALORA, "AdaLoraConfig with total_step=max_steps, tinit=0.10, "
           "tfinal=0.80, deltaT=0.01."),
    Method("ia3", Peft.IA3, "IA3Config on the family's key, value and down projections."),
    Method("prompt_tuning", Peft.PROMPT_TUNING, "PromptTuningConfig with num_virtual_tokens."),
    Method("prefix_tuning", Peft.PREFIX_TUNING, "PrefixTuningConfig with num_virtual_tokens."),
    Method("p_tuning", Peft.P_TUNING, "PromptEncoderConfig with num_virtual_tokens and "
           "encoder_hidden_size."),
)

METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in _ALL})
NAMES: tuple[str, ...] = tuple(METHODS)  # the schema's enum, in this order
DEFAULT = "lora"


def method(name: Any) -> Method | None:
    """The record of an ``adapter`` value, or None for a value that names no method."""
    return METHODS.get(name) if isinstance(name, str) else None


def names(keep: Any) -> frozenset[str]:
    """The names of the methods ``keep(method)`` holds for."""
    return frozenset(m.name for m in _ALL if keep(m))
