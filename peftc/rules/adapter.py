"""Blocking rules on the adapter: settings that contradict the method or each other, so that
PEFT or bitsandbytes would refuse the run or train something else. Errors: compile stops on
them, and they cannot be silenced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.compiler.local import (
    ADAPTER_FIELDS,
    adapter_dir,
    continued_adapter,
    from_stage,
    same_as_adapter,
)
from peftc.compiler.paths import WHERE_HINT
from peftc.rules import Finding, rule
from peftc.rules._common import METHODS_DOC, method_of
from peftc.vocab import catalog
from peftc.vocab.methods import METHODS, Peft

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

PEFT_DOCS = "PEFT's AdaLoraConfig and LoraConfig (peft/tuners), transformers' BitsAndBytesConfig"


@rule("E203", "quantization-contradiction", severity="error",
      summary="quantization settings contradict each other or the adapter",
      rationale="A QLoRA-style adapter (qlora) is LoRA on a base loaded in 4 bits: without "
                "load_in_4bit it would train plain LoRA on a full-precision base, and with "
                "load_in_8bit too the base cannot be loaded both ways. bitsandbytes takes one "
                "of 4 and 8 bits.",
      fix="adapter: qlora with load_in_4bit: true (and no load_in_8bit), or adapter: lora "
          "with the one quantization you want",
      reference=f"{PEFT_DOCS}; {METHODS_DOC}",
      bad="adapter: qlora\nload_in_4bit: true\nload_in_8bit: true",
      good="adapter: qlora\nload_in_4bit: true")
def quantization_contradiction(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    method = method_of(run)
    quantizes = bool(method and method.quantizes)
    if quantizes and v.get("load_in_8bit"):
        yield Finding("load_in_8bit", f"adapter '{method.name}' loads the base model in 4 "
                      "bits, but load_in_8bit is on")
    if quantizes and not v.get("load_in_4bit"):
        yield Finding("load_in_4bit", f"adapter '{method.name}' needs load_in_4bit: true")
    if v.get("load_in_4bit") and v.get("load_in_8bit") and not quantizes:
        yield Finding("load_in_8bit", "load_in_4bit and load_in_8bit are both on; pick one")


@rule("E204", "adalora-without-steps", severity="error",
      summary="AdaLoRA without a step count to budget its ranks over",
      rationale="AdaLoRA prunes ranks on a schedule over the whole run (tinit, tfinal, deltaT "
                "are shares of total_step). With neither max_steps nor adalora_total_step the "
                "compiler cannot place that schedule, and PEFT requires total_step.",
      fix="set max_steps, or adalora_total_step",
      reference=PEFT_DOCS,
      bad="adapter: adalora\nmax_steps: null\nnum_epochs: 1",
      good="adapter: adalora\nmax_steps: 60")
def adalora_without_steps(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    method = method_of(run)
    if (method and method.peft is Peft.ADALORA and v.get("adalora_total_step") is None
            and v.get("max_steps") is None):  # (derive takes max_steps as the total)
        yield Finding("adapter", "adapter 'adalora' needs a step count for its rank budget: "
                      "set max_steps or adalora_total_step")


@rule("E205", "adalora-no-budgeting-phase", severity="error",
      summary="AdaLoRA's tinit + tfinal leave no budgeting phase",
      rationale="AdaLoRA warms up for tinit steps, prunes ranks until total_step - tfinal, "
                "then fine-tunes the final ranks. When tinit + tfinal reach total_step there "
                "is no step left to prune in, and PEFT refuses the config.",
      fix="lower adalora_tinit or adalora_tfinal (the defaults are 10% and 80% of the steps)",
      reference=PEFT_DOCS,
      bad="adapter: adalora\nmax_steps: 60\nadalora_tinit: 30\nadalora_tfinal: 30",
      good="adapter: adalora\nmax_steps: 60\nadalora_tinit: 6\nadalora_tfinal: 48")
def adalora_no_budgeting_phase(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    method = method_of(run)
    total = v.get("adalora_total_step")
    if not (method and method.peft is Peft.ADALORA and total is not None):
        return
    if v["adalora_tinit"] + v["adalora_tfinal"] >= total:
        yield Finding("adalora_tfinal", f"AdaLoRA tinit + tfinal = {v['adalora_tinit']} + "
                      f"{v['adalora_tfinal']} leaves no budgeting phase in {total} steps")


@rule("E206", "loraplus-on-non-lora", severity="error",
      summary="a LoRA+ learning-rate ratio on an adapter that is not LoRA",
      rationale="LoRA+ trains LoRA's B matrices at a higher rate than its A matrices "
                "(peft.optimizers.create_loraplus_optimizer). An adapter without A and B "
                "matrices (AdaLoRA, IA3, prompt and prefix tuning) has nothing to apply the "
                "ratio to.",
      fix="remove loraplus_lr_ratio, or use a LoRA adapter (lora, qlora, dora, ...)",
      reference=f"PEFT's create_loraplus_optimizer; {METHODS_DOC}",
      bad="adapter: ia3\nloraplus_lr_ratio: 16",
      good="adapter: lora\nloraplus_lr_ratio: 16")
def loraplus_on_non_lora(run: ResolvedRun) -> Iterator[Finding]:
    method = method_of(run)
    if run.values.get("loraplus_lr_ratio") is not None and method and not method.lora:
        yield Finding("loraplus_lr_ratio", f"loraplus_lr_ratio applies to LoRA adapters, not "
                      f"'{method.name}'")


@rule("E215", "relora-cannot-restart", severity="error",
      summary="ReLoRA without a restart period, or with a non-LoRA adapter or a non-Adam "
              "optimizer",
      rationale="ReLoRA merges the LoRA adapter into the base every jagged_restart_steps "
                "steps, starts a fresh one, and prunes Adam's moments. It needs that period, "
                "a LoRA adapter to merge, and an optimizer with moments; Axolotl fails "
                "without them too.",
      fix="set jagged_restart_steps, with a LoRA adapter and an Adam optimizer (adamw_torch, "
          "adamw_torch_fused, paged_adamw_8bit, ...)",
      reference=f"Axolotl's ReLoRA (axolotl/monkeypatch/relora.py); {METHODS_DOC}",
      bad="relora: true",
      good="relora: true\njagged_restart_steps: 20")
def relora_cannot_restart(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not v.get("relora"):
        return
    method = method_of(run)
    if v.get("jagged_restart_steps") is None:
        yield Finding("relora", "relora needs jagged_restart_steps, the restart period")
    if method and not method.lora:
        yield Finding("relora", f"ReLoRA restarts a LoRA adapter, not '{method.name}'")
    if "adam" not in v["optimizer"]:
        yield Finding("optimizer", f"ReLoRA prunes Adam's moments at each restart; optimizer "
                      f"'{v['optimizer']}' has none (Axolotl refuses it too)")


@rule("E220", "unfrozen-pattern-not-a-regex", severity="error",
      summary="an unfrozen_parameters pattern is not a regular expression",
      rationale="unfrozen_parameters names base parameters trained in full beside the "
                "adapter, as regular expressions matched against parameter names (Axolotl's "
                "reading: a dot is a literal dot unless + follows it). A pattern that does not "
                "compile matches nothing, and the runtime would fail on it.",
      fix="fix the pattern (escape brackets and parentheses meant literally)",
      reference="Axolotl's unfrozen_parameters (axolotl/utils/freeze.py)",
      bad="unfrozen_parameters: ['^model.layers.(0']",
      good="unfrozen_parameters: ['^model.norm.weight$']")
def unfrozen_pattern_not_a_regex(run: ResolvedRun) -> Iterator[Finding]:
    for pattern in run.values.get("unfrozen_parameters") or []:
        if catalog.PARAM_RANGE.match(pattern):
            continue  # a row range: refused as not supported yet (E107)
        try:
            re.compile(catalog.param_regex(pattern))
        except re.error as exc:
            yield Finding("unfrozen_parameters", f"unfrozen_parameters '{pattern}' is not a "
                          f"regular expression: {exc}")


@rule("W207", "lora-with-4-bit",
      summary="adapter: lora with load_in_4bit loads the model unquantized, as in Axolotl",
      rationale="Axolotl builds a 4-bit quantization config for adapter: qlora only; with "
                "adapter: lora, load_in_4bit is ignored and the model loads in full precision, "
                "taking several times the memory the config suggests. peftc does the same, "
                "so that a config trains as in Axolotl, and says so.",
      fix="for QLoRA write adapter: qlora; otherwise remove load_in_4bit",
      reference="Axolotl's model loader (axolotl/loaders/model.py: _set_quantization_config)",
      bad="adapter: lora\nload_in_4bit: true",
      good="adapter: qlora\nload_in_4bit: true")
def lora_with_4_bit(run: ResolvedRun) -> Iterator[Finding]:
    record, given = method_of(run), run.layered("load_in_4bit")
    if record and record.axolotl and not record.quantizes and given and given[1] and \
            run.source("adapter").layer is not Layer.DEFAULT:
        yield Finding("load_in_4bit", "adapter: lora with load_in_4bit: true loads the model "
                      "unquantized, as Axolotl does (only adapter: qlora quantizes to 4 bits)",
                      loc=given[0].loc)


@rule("E221", "lora-model-dir-not-a-lora-adapter", severity="error",
      summary="lora_model_dir is not a LoRA adapter folder (or the run's adapter is not LoRA)",
      rationale="lora_model_dir goes on training an adapter saved by PEFT: PEFT loads it from "
                "its adapter_config.json. A folder without one, an adapter of another type, "
                "or a run whose method is not LoRA cannot go on training it.",
      fix=f"point lora_model_dir at a saved LoRA adapter, the folder with adapter_config.json "
          f"({WHERE_HINT})",
      reference="PEFT's PeftModel.from_pretrained; Axolotl's adapter loading "
                "(axolotl/loaders/adapter.py: load_lora)",
      bad="lora_model_dir: ./no-adapter-here",
      good="lora_model_dir: null")
def lora_model_dir_not_lora(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    given = v.get("lora_model_dir")
    if not given:
        return
    if not METHODS[v["adapter"]].lora:
        yield Finding("lora_model_dir", f"lora_model_dir goes on training a LoRA adapter, not "
                      f"a '{v['adapter']}' one")
    elif not from_stage(run, "lora_model_dir") and (
            problem := adapter_dir(given, run.spec_dir).problem):
        yield Finding("lora_model_dir", problem)


@rule("W209", "adapter-decides",
      summary="lora_model_dir's adapter_config.json decides a value the spec sets otherwise",
      rationale="Going on training an adapter, PEFT loads it with its own configuration: its "
                "rank, alpha, dropout, target modules and options are the run's, whatever the "
                "spec says (as in Axolotl). The spec's value describes a run that does not "
                "happen. (For DPO the adapter is merged into the base and the spec's values "
                "are the fresh adapter's.)",
      fix="remove the key, or start a fresh adapter",
      reference="PEFT's PeftModel.from_pretrained (the saved LoraConfig); Axolotl's "
                "load_lora",
      bad="lora_model_dir: data/adapter\nlora_r: 16",
      good="lora_model_dir: data/adapter\nlora_r: 8")
def adapter_decides(run: ResolvedRun) -> Iterator[Finding]:
    config = continued_adapter(run)
    for key, field in ADAPTER_FIELDS if config else ():
        mine = run.layered(key)
        if mine and mine[0].written and not same_as_adapter(field, config.get(field), mine[1]):
            yield Finding(key, f"{key} {mine[1]} is not the adapter's: lora_model_dir's "
                          f"adapter_config.json has {field} {config.get(field)}, which decides "
                          "(as in Axolotl)", loc=mine[0].loc)


@rule("E208", "sft-adapter-missing", severity="error",
      summary="sft_adapter path does not exist",
      rationale="A DPO run starts from its SFT adapter: loaded, merged into the base, then a "
                "fresh adapter trained on top. A path that is not there would fail the run "
                "once it starts (or, with a fallback, start from the bare base model).",
      fix="train the SFT stage first, or set sft_adapter_fallback: true to start from the base "
          "model",
      reference="PEFT's PeftModel.from_pretrained and merge_and_unload (the SFT adapter is "
                "merged into the base before DPO)",
      bad="rl: dpo\nsft_adapter: ./no-sft-adapter",
      good="rl: dpo\nsft_adapter: ./no-sft-adapter\nsft_adapter_fallback: true")
def sft_adapter_missing(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    sft = v.get("sft_adapter")
    if sft and not from_stage(run, "sft_adapter") and not v.get("sft_adapter_fallback") and \
            not (run.spec_dir / Path(sft).expanduser()).exists():
        yield Finding("sft_adapter", f"sft_adapter not found: {sft}")


@rule("I211", "architecture-not-in-family-table", severity="info",
      summary="architecture not in the family table: LoRA targets every linear layer",
      rationale="Without lora_target_modules, peftc picks the family's projections from its "
                "family table. An architecture the table does not know gets PEFT's "
                "all-linear (every linear layer but the output head), as Axolotl's "
                "lora_target_linear does: a larger adapter than the usual attention and MLP "
                "projections may be, on an architecture whose module names peftc cannot "
                "check.",
      fix="list lora_target_modules to adapt fewer modules",
      reference=f"{METHODS_DOC} (target modules by family); PEFT's LoraConfig "
                "(target_modules='all-linear')",
      bad="base_model: acme/house-model",
      good="base_model: acme/house-model\nlora_target_modules: [q_proj, v_proj]")
def architecture_not_in_table(run: ResolvedRun) -> Iterator[Finding]:
    v, record = run.values, method_of(run)
    if record and record.lora_like and not v.get("lora_target_linear") and \
            v.get("model_family") is None and run.source("lora_target_modules").layer is \
            Layer.DERIVED:
        yield Finding("base_model", f"the architecture of '{v['base_model']}' is not in "
                      "peftc's family table: LoRA targets every linear layer (PEFT's "
                      "all-linear)")


@rule("E210", "family-unknown-for-defaults", severity="error",
      summary="model family unknown where the compiler needs it",
      rationale="IA3's default target and feed-forward modules come from the model family's "
                "table. For an architecture the table does not know, there is nothing to pick "
                "them from, and PEFT would fail without them.",
      fix="set model_family, or list ia3_target_modules and ia3_feedforward_modules",
      reference=f"{METHODS_DOC} (IA3); PEFT's IA3Config",
      bad="adapter: ia3\nbase_model: acme/house-model\nlora_r: null\nlora_alpha: null",
      good="adapter: ia3\nbase_model: acme/house-model\nlora_r: null\nlora_alpha: null\n"
           "ia3_target_modules: [k_proj, v_proj, down_proj]\n"
           "ia3_feedforward_modules: [down_proj]")
def family_unknown_for_defaults(run: ResolvedRun) -> Iterator[Finding]:
    v, record = run.values, method_of(run)
    if record and record.peft is Peft.IA3 and v.get("model_family") is None:
        for key in ("ia3_target_modules", "ia3_feedforward_modules"):
            if v.get(key) is None:
                yield Finding("base_model", f"cannot tell the model family of "
                              f"'{v['base_model']}' to pick default {key}")
