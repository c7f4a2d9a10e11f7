"""Sample-packing rules: packed evaluation, examples that can see each other, packing where
the trainer ignores it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.rules import Finding, rule
from peftc.rules._common import GUIDE, QWEN_DOC, blame, is_dpo, shared_top_level

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun


@rule("W130", "packed-evaluation",
      summary="evaluation data is packed (eval_sample_packing)",
      rationale="Packing the validation set glues several examples into each sequence, so the "
                "evaluation loss is no longer a per-example number: it changes with how the "
                "packer happened to fill the windows and cannot be compared with unpacked runs "
                "or across packing settings. The guide keeps evaluation unpacked.",
      fix="set eval_sample_packing: false (training can stay packed)",
      reference=f"{GUIDE}, section 'packing' (Impact and Symptoms; Detailed Configuration "
                "step 3)",
      bad="sample_packing: true\neval_sample_packing: true\nval_set_size: 0.05",
      good="sample_packing: true\neval_sample_packing: false\nval_set_size: 0.05")
def packed_eval(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("eval_sample_packing") and v.get("eval_strategy") != "no" and not is_dpo(run):
        yield Finding("eval_sample_packing",
                      "evaluation is packed: eval loss mixes examples and is not comparable "
                      "per example")


@rule("W131", "packing-cross-contamination",
      summary="packed examples can attend to each other",
      rationale="Packing is only safe when every token attends to its own example. peftc's "
                "default best-fit packing is padding-free and marks example boundaries with "
                "position ids, which flash_attention_2, sdpa and eager honour. The 'wrapped' "
                "strategy cuts one long token stream into windows under a plain causal mask, "
                "and flex_attention is not among the kernels the guide and TRL list for packed "
                "batches; in both cases an example conditions on the tail of the previous one, "
                "which shows up as answers that continue someone else's conversation.",
      fix="use packing_strategy: bfd with attn_implementation flash_attention_2 or sdpa, or "
          "turn sample_packing off",
      reference=f"{GUIDE}, section 'packing' (Compatibility & correctness gotchas; Detailed "
                "Configuration step 4)",
      bad="sample_packing: true\npacking_strategy: wrapped",
      good="sample_packing: true\npacking_strategy: bfd\nattn_implementation: sdpa")
def contamination(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not v.get("sample_packing") or is_dpo(run):
        return
    if v.get("packing_strategy") == "wrapped":
        yield Finding(blame(run, "packing_strategy", "sample_packing"),
                      "packing_strategy 'wrapped' packs examples under one causal mask: each "
                      "example attends to the one before it")
    elif v.get("attn_implementation") == "flex_attention":
        yield Finding(blame(run, "attn_implementation", "sample_packing"),
                      "sample_packing with attn_implementation 'flex_attention': example "
                      "boundaries are not guaranteed to be isolated")


@rule("W132", "packing-on-dpo",
      summary="sample_packing on a DPO run is ignored",
      rationale="Packing is a feature of supervised fine-tuning; TRL's DPO trainer scores each "
                "prompt with its chosen and rejected answers as separate sequences and peftc "
                "does not pass packing to it. The setting has no effect and suggests a "
                "throughput the run will not have. Preference pairs also need their boundaries "
                "intact, as the Qwen recipe notes for conversations.",
      fix="drop sample_packing from the DPO stage (keep it on the SFT stage if wanted)",
      reference=f"{GUIDE}, section 'packing' (Compatibility & correctness gotchas); "
                f"{QWEN_DOC}, section 'Key Implementation Details'",
      bad="rl: dpo\nsample_packing: true",
      good="rl: dpo\nsample_packing: false")
def packing_dpo(run: ResolvedRun) -> Iterator[Finding]:
    if is_dpo(run) and run.values.get("sample_packing") and \
            not shared_top_level(run, "sample_packing"):
        yield Finding("sample_packing", "sample_packing is ignored on a DPO run (TRL packs "
                      "SFT data only)")
