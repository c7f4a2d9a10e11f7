"""peftc's DeepSpeed presets (``deepspeed: zero2``) and the Axolotl files they stand for: one
record each. ``peftc/compiler/launchfiles.py`` renders a preset through
``templates/deepspeed.json.j2``; the key table's description lists them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class DeepSpeedPreset(NamedTuple):
    """A ZeRO stage and where it offloads (``cpu``, or None for nowhere)."""

    name: str
    stage: int
    offload_optimizer: str | None = None
    offload_param: str | None = None


_ALL = (
    DeepSpeedPreset("zero1", 1),
    DeepSpeedPreset("zero2", 2),
    DeepSpeedPreset("zero3", 3),
    DeepSpeedPreset("zero2_offload", 2, offload_optimizer="cpu"),
    DeepSpeedPreset("zero3_offload", 3, offload_optimizer="cpu", offload_param="cpu"),
)
PRESETS: Mapping[str, DeepSpeedPreset] = MappingProxyType({p.name: p for p in _ALL})

# Axolotl's shipped deepspeed_configs/*.json -> the preset with the same ZeRO stage and offload
# (shared/notes/axolotl-keys.md, section 9); the files differ only in speed settings.
AXOLOTL_FILES: Mapping[str, str] = MappingProxyType({
    "zero1.json": "zero1", "zero1_torch_compile.json": "zero1",
    "zero2.json": "zero2_offload", "zero2_torch_compile.json": "zero2_offload",
    "zero3.json": "zero3", "zero3_bf16.json": "zero3",
    "zero3_bf16_cpuoffload_all.json": "zero3_offload"})
