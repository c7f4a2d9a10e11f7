"""Resolve the ``precision`` section of run.yaml on the machine the run gets.

``bf16`` and ``tf32`` may be ``auto`` (Axolotl's default): the compiler leaves them so, because
the answer depends on the device, and the runtime decides here, once, before anything loads.
The result feeds the trainer flags, the load dtype and the 4-bit compute dtype, and is recorded
in metrics.json.

- ``bf16: auto``: bf16 on a GPU that supports it, else off.
- ``fp16: auto`` (the compiler's reading of bf16: auto with fp16 unset, as in Axolotl): fp16 on
  a GPU without bf16, else off. So on a CPU auto is fp32 (Axolotl would pick fp16, which
  cannot run there).
- ``tf32: auto``: on for a CUDA GPU of compute capability 8.0 or newer.

The weights load in bfloat16 with bf16 or ``bfloat16``, else in float16 with fp16 or
``float16`` (which the compiler also sets for load_in_8bit), else in float32: Axolotl's rule,
so ``bfloat16: true`` alone trains bfloat16 weights without mixed precision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from peftc.runtime.errors import RuntimeConfigError


@dataclass(frozen=True)
class Precision:
    bf16: bool
    fp16: bool
    tf32: bool
    dtype: str  # the torch dtype weights load in: bfloat16, float16 or float32

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve(section: dict[str, Any]) -> Precision:
    """The concrete precision for this machine; an error when it cannot run here."""
    import torch

    cuda = torch.cuda.is_available()
    bf16, fp16, tf32 = (section.get(k, "auto") for k in ("bf16", "fp16", "tf32"))
    if bf16 == "auto":
        bf16 = cuda and torch.cuda.is_bf16_supported()
    if fp16 == "auto":
        fp16 = cuda and not bf16
    if tf32 == "auto":
        tf32 = cuda and torch.cuda.get_device_capability()[0] >= 8
    bf16, fp16, tf32 = bool(bf16), bool(fp16), bool(tf32)
    if not cuda and fp16:
        raise RuntimeConfigError(
            "precision.fp16: fp16 mixed precision needs a GPU and this machine has none; "
            "use bf16 (CPU autocast), auto or full precision", code="E602", field="precision.fp16"
        )
    if bf16 or section.get("bfloat16"):
        dtype = "bfloat16"
    elif fp16 or section.get("float16"):
        dtype = "float16"
    else:
        dtype = "float32"
    return Precision(bf16, fp16, tf32, dtype)
