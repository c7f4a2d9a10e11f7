"""Model rules: module names the model does not have, tied output heads, sequences longer than
the model was trained on, and remote code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from peftc.compiler.layers import Layer
from peftc.rules import Finding, rule
from peftc.rules._common import (
    METHODS_DOC,
    QUICKREF,
    blame,
    method_of,
    model_name,
    native_context,
    tied_embeddings,
    written,
)
from peftc.vocab.families import FAMILIES
from peftc.vocab.methods import Peft

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun


@rule("E201", "no-base-model", severity="error",
      summary="base_model missing",
      rationale="A run fine-tunes a model: without base_model there is nothing to load. "
                "Axolotl requires it too.",
      fix="set base_model: a hub id, a local folder, or peftc:tiny-llama",
      reference="Axolotl's config schema (axolotl/utils/schemas/model.py: base_model)",
      bad="base_model: null",
      good="base_model: peftc:tiny-llama")
def no_base_model(run: ResolvedRun) -> Iterator[Finding]:
    if run.source("base_model").layer is Layer.DEFAULT:  # derive put a stand-in there
        yield Finding("base_model", "'base_model' is required (a hub id, a local folder, or "
                      "peftc:tiny-llama)")


def _module_lists(run: ResolvedRun) -> Iterator[tuple[str, list[str]]]:
    v = run.values
    record = method_of(run)
    if record and record.lora_like:
        targets = v.get("lora_target_modules")
        if isinstance(targets, list) and written(run, "lora_target_modules"):
            yield "lora_target_modules", targets
    if record and record.peft is Peft.IA3:
        for key in ("ia3_target_modules", "ia3_feedforward_modules"):
            if isinstance(v.get(key), list) and written(run, key):
                yield key, v[key]
    if isinstance(v.get("lora_modules_to_save"), list) and not (
            record and record.prompt_learning):
        yield "lora_modules_to_save", v["lora_modules_to_save"]


@rule("W180", "target-module-unknown",
      summary="a target module name the model family does not have",
      rationale="PEFT matches target names against the model's module names. A name from "
                "another architecture (c_attn or w1 on a Llama-style model, q_proj on "
                "GPT-NeoX) matches nothing: if no listed name matches, PEFT refuses to build "
                "the adapter; if some do, the rest are dropped silently and the adapter is "
                "smaller than intended. Names are checked against the family table (the "
                "projections, embeddings and output head).",
      fix="use the family's names (see the family table), or lora_target_linear: true",
      reference=f"{METHODS_DOC} (digest in shared/seeds/README.md: target modules by family); "
                f"{QUICKREF}, section 'LoRA Configuration' / 'Target Modules'",
      bad="base_model: meta-llama/Llama-2-7b-hf\nlora_target_modules: [c_attn, c_proj]",
      good="base_model: meta-llama/Llama-2-7b-hf\nlora_target_modules: [q_proj, v_proj]")
def unknown_targets(run: ResolvedRun) -> Iterator[Finding]:
    family = run.values.get("model_family")
    if family not in FAMILIES:
        return
    known = FAMILIES[family].modules
    for key, names in _module_lists(run):
        unknown = [str(n) for n in names if str(n).rsplit(".", 1)[-1] not in known]
        if not unknown:
            continue
        quoted = ", ".join(unknown)
        tail = ("none of the listed modules exist, PEFT will refuse the adapter"
                if len(unknown) == len(names) and key != "lora_modules_to_save"
                else "they will be skipped")
        yield Finding(key, f"{key}: {quoted} not found in the {family} family "
                      f"({', '.join(sorted(known))}); {tail}")


@rule("W181", "lm-head-tied-embeddings",
      summary="lm_head adapted or saved on a model that ties it to the input embeddings",
      rationale="Some models share one matrix between the input embeddings and the output "
                "head (Gemma; Qwen2-architecture models up to about 4B; Llama 3.2 1B and 3B). "
                "Adapting or fully training lm_head there either changes the embeddings too "
                "or breaks the tie in the saved adapter, and merging or reloading behaves "
                "differently from training. The quick reference's advice to add lm_head to "
                "the targets assumes an untied head.",
      fix="drop lm_head from lora_target_modules / lora_modules_to_save for tied models",
      reference=f"{QUICKREF}, section 'LoRA Configuration' / 'Target Modules' (lm_head); "
                "section 'Troubleshooting Quick Reference'",
      bad="base_model: google/gemma-2b\nlora_target_modules: [q_proj, v_proj, lm_head]",
      good="base_model: google/gemma-2b\nlora_target_modules: [q_proj, v_proj]")
def tied_head(run: ResolvedRun) -> Iterator[Finding]:
    if not tied_embeddings(run):
        return
    for key, names in _module_lists(run):
        if any(str(n).rsplit(".", 1)[-1] == "lm_head" for n in names):
            yield Finding(key, f"{key} includes lm_head, but {model_name(run)} ties lm_head "
                          "to embed_tokens")


@rule("W182", "sequence-beyond-context",
      summary="sequence_len longer than the model's native context",
      rationale="Positions beyond the context length the model was pretrained on are out of "
                "distribution for its position encoding unless RoPE scaling is configured; "
                "quality degrades past the native window and memory grows for nothing. The "
                "quick reference lists Llama 3 at 8K, Qwen2.5 at 32K and Mistral at 8K native; "
                "Llama 2 is 4K. The context is taken from the model's config.json when it is at "
                "hand, else from the model id when it says (128k), else from the family "
                "table; peftc's default sequence_len is not checked.",
      fix="lower sequence_len to the native context (or use a long-context variant)",
      reference=f"{QUICKREF}, section 'Context Lengths' (Maximum Sequence Length)",
      bad="base_model: meta-llama/Llama-2-7b-hf\nsequence_len: 8192",
      good="base_model: meta-llama/Llama-2-7b-hf\nsequence_len: 4096")
def beyond_context(run: ResolvedRun) -> Iterator[Finding]:
    if run.source("sequence_len").layer is Layer.DEFAULT:
        return  # peftc's default length is not a choice the user made
    ctx = native_context(run)
    seq = run.values["sequence_len"]
    if ctx is not None and seq > ctx[0]:
        yield Finding(blame(run, "sequence_len", "base_model"),
                      f"sequence_len {seq} exceeds the native context {ctx[0]} of "
                      f"{model_name(run)} ({ctx[1]})")


@rule("W183", "trust-remote-code",
      summary="trust_remote_code runs code from the model repository",
      rationale="With trust_remote_code the model's own Python files are downloaded and "
                "executed with the training job's permissions (and credentials). The families "
                "peftc knows are all implemented in transformers and need no remote code; "
                "enable it only for a repository you have reviewed, pinned to a revision.",
      fix="remove trust_remote_code, or pin revision_of_model to a reviewed commit",
      reference="transformers documentation, from_pretrained(trust_remote_code=...)",
      bad="trust_remote_code: true",
      good="trust_remote_code: false")
def remote_code(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if v.get("trust_remote_code"):
        pinned = " (revision pinned)" if v.get("revision_of_model") else \
            " with no revision_of_model pinned"
        yield Finding("trust_remote_code", f"trust_remote_code executes Python from the "
                      f"'{v['base_model']}' repository{pinned}")


@rule("E224", "attention-the-architecture-cannot-run", severity="error",
      summary="an attention kernel the model's architecture cannot run",
      rationale="Some architectures have no SDPA attention in transformers (the family table "
                "says which); transformers refuses to load them with "
                "attn_implementation: sdpa. peftc picks transformers' own default when the "
                "key is not written.",
      fix="use eager or flash_attention_2, or remove attn_implementation (eager is the "
          "default of such an architecture)",
      reference="transformers' attention interface (attn_implementation); docs/families.md",
      bad="base_model: google/gemma-2-2b\nattn_implementation: sdpa",
      good="base_model: google/gemma-2-2b")
def attention_the_architecture_cannot_run(run: ResolvedRun) -> Iterator[Finding]:
    family = run.values.get("model_family")
    fam = FAMILIES.get(family or "")
    if fam is not None and not fam.sdpa and run.values["attn_implementation"] == "sdpa":
        yield Finding("attn_implementation", f"the {family} architecture cannot run its "
                      "attention with sdpa (transformers refuses to load it so)")


@rule("W212", "model-family-not-the-architecture",
      summary="model_family differs from the architecture in the model's config.json",
      rationale="model_family picks the default target modules, IA3 modules, embeddings and "
                "FSDP layer class. When the model's own config.json names another "
                "architecture, those defaults name modules the model may not have.",
      fix="remove model_family: the config.json decides",
      reference="transformers' model configs (model_type); docs/families.md",
      bad="base_model: data/qwen2-model  # its config.json says qwen2\nmodel_family: llama",
      good="base_model: data/qwen2-model")
def model_family_not_the_architecture(run: ResolvedRun) -> Iterator[Finding]:
    config, family = run.model_config, run.values.get("model_family")
    if written(run, "model_family") and config is not None and config.family and \
            config.family != family:
        yield Finding("model_family", f"model_family {family} is not the model's "
                      f"architecture: its config.json says {config.model_type!r} (the "
                      f"{config.family} family), whose modules the defaults would name")


@rule("E218", "new-tokens-untrained-embeddings", severity="error",
      summary="tokens are new to the vocabulary but the adapter does not train the embeddings",
      rationale="A token added to the vocabulary gets a fresh embedding row (and output row) "
                "that starts untrained: unless the adapter trains the embedding modules in "
                "full (lora_modules_to_save), the model reads and writes the token as noise. "
                "Axolotl fails the same way, after the model has loaded. Prompt-learning "
                "adapters cannot train embeddings at all.",
      fix="a LoRA adapter with lora_modules_to_save listing the family's embedding modules "
          "(docs/families.md), or drop tokens",
      reference=f"PEFT's modules_to_save; {METHODS_DOC}",
      bad='tokens: ["<tool>"]',
      good='tokens: ["<tool>"]\nlora_modules_to_save: [embed_tokens, lm_head]')
def new_tokens_untrained_embeddings(run: ResolvedRun) -> Iterator[Finding]:
    v = run.values
    if not v.get("tokens"):
        return
    family = v.get("model_family")
    needed = FAMILIES[family].embeddings if family in FAMILIES else None
    method = method_of(run)
    if method and method.prompt_learning:
        yield Finding("tokens", f"tokens are new to the vocabulary and need their embeddings "
                      f"trained, which a '{method.name}' adapter cannot do")
        return
    saved = {str(m).rsplit(".", 1)[-1] for m in v.get("lora_modules_to_save") or []}
    missing = [m for m in needed or [] if m not in saved]
    if missing:
        yield Finding("tokens", f"tokens are new to the vocabulary: their embedding rows start "
                      f"untrained, and lora_modules_to_save lacks {', '.join(missing)} (the "
                      f"{family} family's embedding modules)")


@rule("W206", "model-type-with-remote-code",
      summary="model_type is ignored with trust_remote_code",
      rationale="With trust_remote_code the repository's own code picks the model class: "
                "Axolotl then loads through AutoModelForCausalLM and ignores model_type, and "
                "peftc does the same. A model_type naming another class says something the "
                "run does not do.",
      fix="remove model_type, or trust_remote_code",
      reference="Axolotl's model loader (axolotl/loaders/model.py: _build_model)",
      bad="trust_remote_code: true\nmodel_type: LlamaForCausalLM",
      good="trust_remote_code: true")
def model_type_with_remote_code(run: ResolvedRun) -> Iterator[Finding]:
    given = run.layered("model_type")
    if given and run.values.get("trust_remote_code") and given[1] != run.values["model_type"]:
        yield Finding("model_type", f"model_type {given[1]} is ignored with trust_remote_code, "
                      "as in Axolotl: the repository's code picks the class", loc=given[0].loc)
