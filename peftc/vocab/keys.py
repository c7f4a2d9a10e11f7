"""Every key a spec can hold, one record each: the spec's vocabulary.

A :class:`Key` gives a key's spelling, its way (honoured, or an Axolotl key peftc refuses, or a
second spelling), the JSON Schema of its value with its default, and the run.yaml field it
reaches. The schema (`peftc.schema.spec`), the compiler and the docs read these records; no
key's facts are spelled anywhere else. Torch-free: lint imports it.

A default marked ``axolotl=True`` is Axolotl 0.18's own (shared/notes/axolotl-keys.md) and is
reported as ``default:axolotl``; any other default is peftc's (``default:peftc``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from typing import Any

from peftc.diagnostics import ERROR, WARNING
from peftc.vocab import datasets, methods, schedulers
from peftc.vocab.chat_templates import FALLBACK, JINJA, NAMED, TOKENIZER_DEFAULT
from peftc.vocab.datasets import Trainer
from peftc.vocab.deepspeed import PRESETS as DS_PRESETS
from peftc.vocab.families import FAMILIES

# Names used by other modules ------------------------------------------------------------
_DS_PRESETS = ", ".join(DS_PRESETS)
# transformers' optimizer names (``OptimizerNames`` of 5.24; a test keeps them equal), which
# Axolotl passes to ``optim`` as they are
OPTIMIZERS = [
    "adamw_torch", "adamw_torch_fused", "adamw_torch_xla", "adamw_torch_npu_fused", "adafactor",
    "adamw_anyprecision", "adamw_torch_4bit", "adamw_torch_8bit", "ademamix", "sgd", "adagrad",
    "adamw_bnb_8bit", "adamw_8bit", "ademamix_8bit", "lion_8bit", "lion_32bit",
    "paged_adamw_32bit", "paged_adamw_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit",
    "paged_lion_32bit", "paged_lion_8bit", "rmsprop", "rmsprop_bnb", "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit", "galore_adamw", "galore_adamw_8bit", "galore_adafactor",
    "galore_adamw_layerwise", "galore_adamw_8bit_layerwise", "galore_adafactor_layerwise", "lomo",
    "adalomo", "grokadamw", "schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd",
    "apollo_adamw", "apollo_adamw_layerwise", "stable_adamw",
]
DPO_LOSSES = [
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_pair", "apo_zero", "apo_down", "discopop", "sft",
]
ATTENTION = ["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"]

class Way(Enum):
    """How peftc handles a key."""

    HONOURED = "honoured"  # taken, with Axolotl's meaning where Axolotl has the key
    HINT = "hint"  # speed or infrastructure only: cannot change what is trained; a warning
    PENDING = "pending"  # Axolotl's meaning needs runtime work not done yet: an error for now
    REFUSED = "refused"  # an Axolotl key peftc does not take; ``note`` says what to do
    RENAMED = "renamed"  # a deprecated spelling of ``to``: taken as it, with a warning
    ALIAS = "alias"  # a second spelling of ``to``, taken silently


# How lint reports a key of each way that is not taken as a setting: code, severity, and what
# it says of the key. A renamed key is taken, with warning RENAMED_CODE.
REPORTS: dict[Way, tuple[str, str, str]] = {
    Way.REFUSED: ("E105", ERROR, "is an Axolotl key peftc does not take"),
    Way.PENDING: ("E107", ERROR, "is an Axolotl key peftc does not support yet"),
    Way.HINT: ("W204", WARNING, "only changes speed, not what is trained; peftc does not "
               "apply it"),
    Way.RENAMED: ("W205", WARNING, "is an old Axolotl name of a key that is taken under its "
                  "new name"),
}
RENAMED_CODE = "W205"


@dataclass(frozen=True)
class Key:
    name: str
    schema: dict[str, Any] | None = None  # the value's JSON Schema (honoured keys)
    run: str | None = None  # the run.yaml field it reaches, dotted; None: it reaches none
    way: Way = Way.HONOURED
    note: str = ""  # refused or pending: what to do instead; hint: what peftc does instead
    to: str | None = None  # alias: the key it spells
    own: bool = False  # peftc's own key (Axolotl has none of this name)
    differs: str = ""  # where peftc's meaning differs from Axolotl's, said out loud


# Schema fragments ------------------------------------------------------------------------
def _t(kind: str | list[str], desc: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    return _annotate({"type": kind, "description": desc}, default, extra)


def _annotate(out: dict[str, Any], default: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Add the default and the extra keywords. ``axolotl=True`` marks a default that is
    Axolotl's own (``defaultFrom: axolotl``), which provenance reports as ``default:axolotl``;
    any other default is peftc's (``default:peftc``)."""
    if default is not None:
        out["default"] = default
        if extra.pop("axolotl", False):
            out["defaultFrom"] = "axolotl"
    out.update(extra)
    return out


def _bool(desc: str, default: bool = False, **extra: Any) -> dict[str, Any]:
    return _t("boolean", desc, default, **extra)


def _int(desc: str, default: int | None = None, minimum: int = 0, **extra: Any) -> dict[str, Any]:
    return _t("integer", desc, default, minimum=minimum, **extra)


def _num(desc: str, default: float | None = None, **extra: Any) -> dict[str, Any]:
    return _t("number", desc, default, **extra)


def _enum(values: list[Any], desc: str, default: Any = None, **extra: Any) -> dict[str, Any]:
    return _annotate({"enum": values, "description": desc}, default, extra)


def _auto_bool(desc: str, **extra: Any) -> dict[str, Any]:
    """A switch whose default, ``auto``, the runtime resolves on the machine (Axolotl's too)."""
    return _annotate({"anyOf": [{"enum": ["auto"]}, {"type": "boolean"}], "description": desc},
                     "auto", {"axolotl": True, **extra})


def _steps(desc: str, **extra: Any) -> dict[str, Any]:
    """A step count, or a share of the run's steps below 1 (as transformers takes both)."""
    return _annotate({"anyOf": [{"type": "integer", "minimum": 1},
                                {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}],
                      "description": desc}, None, extra)


STR_LIST = {"type": "array", "items": {"type": "string"}}
# the tokenizer attributes special_tokens may set (Axolotl's SpecialTokensConfig)
SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")
TRAIN_ON_EOS = ["all", "turn", "last", "none"]  # chat_template: where an end of turn trains
# the chat_template entry options and their defaults, filled into every such entry
CHAT_OPTIONS = ("roles_to_train", "train_on_eos", "train_on_eot", "drop_system_message")

# Axolotl's role map for chat_template rows (SFT): template role <- the values rows use.
# A role it does not list passes through unchanged.
AXOLOTL_ROLES = {"user": ["human", "user"], "assistant": ["gpt", "assistant"],
                 "system": ["system"], "tool": ["tool"]}


def role_of(roles: dict[str, list[str]]) -> dict[str, str]:
    """A ``roles`` map turned around: the value rows use -> the template's role."""
    return {raw: role for role, raws in roles.items() for raw in raws}

_CHAT_PENDING = ("not yet: the chat template renders the messages as they are; reasoning "
                 "fields and character-range training come next")

# The keys of one ``datasets[]`` entry; ``run`` names the field of run.yaml's entry.
DATASET_KEYS: tuple[Key, ...] = (
    Key("path", _t("string", "Hub dataset id, or a local file or folder (relative to the spec)."),
        run="path"),
    Key("type", _enum(list(datasets.NAMES), "How rows are turned into training text (alpaca and "
                      "alpaca:STYLE: Axolotl's prompts; alpaca_plain: the seed sweep's).",
                      datasets.DEFAULT_TYPE[Trainer.SFT]), run="type"),
    Key("split", _t("string", "Split to load.", "train"), run="split"),
    Key("name", _t("string", "Dataset configuration name (hub datasets)."), run="name"),
    Key("revision", _t("string", "Dataset revision (hub datasets)."), run="revision"),
    Key("data_files", {"type": ["string", "array"], "items": {"type": "string"},
                       "description": "Files to load from the dataset path."}, run="data_files"),
    Key("ds_type", _enum(["json", "parquet", "csv", "arrow", "text"],
                         "Loader for local files; guessed from the file suffix when unset."),
        run="builder"),
    *(Key(f"field_{name}", _t("string", desc, default), run=f"fields.{name}", own=own)
      for name, desc, default, own in (
          ("instruction", "Column holding the instruction (alpaca, input_output).", None, True),
          ("input", "Column holding the optional input (alpaca).", None, True),
          ("output", "Column holding the response (alpaca, input_output).", None, True),
          ("text", "Column holding raw text (completion).", "text", True),
          ("messages", "Column holding the message list (chat_template).", "messages", False),
          ("prompt", "Column holding the prompt (preference).", "prompt", True),
          ("chosen", "Column holding the chosen answer (preference).", "chosen", False),
          ("rejected", "Column holding the rejected answer (preference).", "rejected", False))),
    Key("field", _t("string", "completion: Axolotl's name of field_text, the column holding the "
                    "text (text when unset)."), run="fields.text", to="field_text"),
    Key("message_property_mappings",
        {"type": "object", "additionalProperties": {"type": "string"},
         "description": "chat_template: message key -> the key rows use for it, e.g. "
                        "{role: from, content: value} for ShareGPT rows; role and content map "
                        "to themselves unless given."},
        run="message_property_mappings"),
    Key("roles", {"type": "object", "additionalProperties": STR_LIST,
                  "description": "chat_template: template role -> the role values rows use. "
                                 "Replaces Axolotl's default map (user: human, user; "
                                 "assistant: gpt, assistant; system; tool); a role it does not "
                                 "list passes through."},
        run="roles"),
    *(Key(f"message_field_{name}", _t("string", f"chat_template: Axolotl's older spelling of "
                                      f"message_property_mappings.{name} (which wins)."),
          run="message_property_mappings") for name in ("role", "content")),
    Key("roles_to_train", {**STR_LIST, "default": ["assistant"], "defaultFrom": "axolotl",
                           "description": "chat_template: roles whose turns' content is "
                                          "trained (role values rows use go through roles)."},
        run="roles_to_train"),
    Key("train_on_eos", _enum(TRAIN_ON_EOS, "chat_template: after which turns the tokenizer's "
                              "EOS is trained where the template writes it: all, trained "
                              "turns, the last trained turn, none.", "turn", axolotl=True),
        run="train_on_eos"),
    Key("train_on_eot", _enum(TRAIN_ON_EOS, "chat_template: the same for the template's "
                              "end-of-turn tokens; train_on_eos when unset."),
        run="train_on_eot",
        differs=("The end-of-turn tokens are the ones the chat template writes after an "
                 "answer (<|im_end|>, <|eot_id|>, <end_of_turn>...); Axolotl's are eot_tokens, "
                 "by default the tokenizer's EOS, so a template whose turns end otherwise "
                 "trains no end of turn there and the model does not learn to stop.")),
    Key("drop_system_message", _bool("chat_template: drop a leading system turn.",
                                     axolotl=True), run="drop_system_message"),
    Key("field_tools", _t("string", "chat_template: column of the tool definitions the "
                          "template gets as tools (a list, or JSON text).", "tools",
                          axolotl=True), run="fields.tools"),
    Key("message_field_training", _t("string", "chat_template: message key whose true/false "
                                     "says whether that turn trains, over roles_to_train."),
        run="message_field_training"),
    Key("chat_template", _t("string", "chat_template: this dataset's own template (a name, "
                            "jinja with chat_template_jinja, or Jinja text); the run's when "
                            "unset or tokenizer_default."), run="chat_template"),
    Key("chat_template_jinja", _t("string", "chat_template: with chat_template: jinja, this "
                                  "dataset's Jinja template or a file holding it."),
        run="chat_template"),
    *(Key(name, way=Way.PENDING, note=_CHAT_PENDING) for name in (
        "field_thinking", "template_thinking_key", "split_thinking",
        "message_field_training_detail")),
    Key("shards", way=Way.PENDING, note="remove it; the whole split is loaded"),
    Key("trust_remote_code", way=Way.REFUSED,
        note="datasets with loading scripts are not supported; convert it to files"),
)

_DATASET = {
    "type": "object",
    "description": "One training dataset (Axolotl-style).",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {k.name: k.schema for k in DATASET_KEYS if k.schema is not None},
}

_LOFTQ = {
    "type": "object",
    "description": "LoftQ initialisation settings (PEFT LoftQConfig). Used with adapter: loftq "
                   "or peft_init_lora_weights: loftq.",
    "additionalProperties": False,
    "properties": {
        "loftq_bits": _enum([4, 8], "Quantization bits LoftQ models.",
                             methods.LOFTQ_DEFAULTS["loftq_bits"]),
        "loftq_iter": _int("Alternating optimisation steps.", methods.LOFTQ_DEFAULTS["loftq_iter"],
                           minimum=1),
    },
}

# transformers' FSDPOption words, Axolotl's deprecated `fsdp:` list: a sharding strategy's
# name in lower case, or one of these switches
FSDP_SWITCHES = ["offload", "auto_wrap"]
# fsdp_config: the FSDP settings accelerate's launch config takes (`accelerate launch
# --fsdp_*`), the fact accelerate.yaml is written from
_LAYER_CLASSES = r"^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$"
FSDP_SETTINGS: dict[str, dict[str, Any]] = {
    "version": {"enum": [1, 2]},
    "sharding_strategy": {"enum": ["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD",
                                   "HYBRID_SHARD_ZERO2"]},
    "reshard_after_forward": {"type": "boolean"},
    "offload_params": {"type": "boolean"},
    "auto_wrap_policy": {"enum": ["TRANSFORMER_BASED_WRAP", "SIZE_BASED_WRAP", "NO_WRAP"]},
    "transformer_layer_cls_to_wrap": {"type": "string", "pattern": _LAYER_CLASSES},
    "min_num_params": {"type": "integer", "minimum": 0},
    "backward_prefetch": {"enum": ["BACKWARD_PRE", "BACKWARD_POST", "NO_PREFETCH"]},
    "forward_prefetch": {"type": "boolean"},
    "state_dict_type": {"enum": ["FULL_STATE_DICT", "SHARDED_STATE_DICT", "LOCAL_STATE_DICT"]},
    "use_orig_params": {"type": "boolean"},
    "cpu_ram_efficient_loading": {"type": "boolean"},
    "sync_module_states": {"type": "boolean"},
    "activation_checkpointing": {"type": "boolean"},
    "limit_all_gathers": {"enum": [True]},
}
FSDP_WORDS = [name.lower() for name in FSDP_SETTINGS["sharding_strategy"]["enum"]] + FSDP_SWITCHES

_FSDP = {
    "type": "object",
    "description": "Fully Sharded Data Parallel through accelerate.",
    "additionalProperties": False,
    "properties": {
        "sharding_strategy": _enum(FSDP_SETTINGS["sharding_strategy"]["enum"],
                                   "How parameters, gradients and optimizer state are sharded.",
                                   "FULL_SHARD"),
        "offload_params": _bool("Offload parameters to CPU."),
        "state_dict_type": _enum(FSDP_SETTINGS["state_dict_type"]["enum"],
                                 "How checkpoints are written.", "SHARDED_STATE_DICT"),
        "auto_wrap": _bool("Wrap each decoder layer (class taken from the model family).", True),
    },
}


# Structural sections (peftc's own): shape the spec, not a run.
SLURM_NAME = r"^[A-Za-z0-9_.-]+$"
SLURM_NAMES = r"^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$"
SLURM_TIME = (r"^([0-9]+(:[0-9]{1,2}){0,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2}"
              r"|UNLIMITED|INFINITE|unlimited|infinite)$")
CLUSTER = {
    "type": "object",
    "description": "SLURM settings for `peftc compile --slurm`.",
    "additionalProperties": False,
    "properties": {
        # the #SBATCH fields are validated, not quoted: a newline would end the comment line
        # that sbatch reads them from, and quoting cannot stop that
        "partition": _t("string", "SLURM partition (or a comma-separated list).",
                        pattern=SLURM_NAMES),
        "account": _t("string", "SLURM account.", pattern=SLURM_NAME),
        "nodes": _int("Nodes per run (default: the run's num_machines).", minimum=1),
        "gpus_per_node": _int("GPUs per node (default: num_gpus / nodes).", minimum=1),
        "cpus_per_task": _int("CPUs per task.", minimum=1),
        "time": _t("string", "Time limit in a format sbatch takes: MM, MM:SS, HH:MM:SS, D-HH, "
                   "D-HH:MM, D-HH:MM:SS or UNLIMITED.", "24:00:00", pattern=SLURM_TIME),
        "qos": _t("string", "Quality of service.", pattern=SLURM_NAME),
        "setup": _t("string", "Shell lines run before launching (module load, venv "
                    "activation). Shell by design: lint shows it (I401) for review."),
        "main_process_port": _int("Rendezvous port.", 29500, minimum=1, maximum=65535),
    },
}



def defaults_of(section: dict[str, Any]) -> dict[str, Any]:
    """The defaults of a nested section's schema: what applies where no layer set a value."""
    return {k: p["default"] for k, p in section["properties"].items() if "default" in p}


# the cluster values that have a default of their own (nodes and GPUs per node follow the run)
CLUSTER_DEFAULTS = defaults_of(CLUSTER)
FSDP_DEFAULTS = defaults_of(_FSDP)  # peftc's fsdp mapping

LINT = {
    "type": "object",
    "description": "Lint configuration for this spec.",
    "additionalProperties": False,
    "properties": {
        "ignore": {**STR_LIST, "description": "Warning and info codes not reported for this "
                   "spec, by lint or compile (errors cannot be ignored)."},
        "severity": {"type": "object", "description": "Per-code severity of warnings and "
                     "infos: error, warning, info or off.",
                     "additionalProperties": _enum(["error", "warning", "info", "off"], "")},
    },
}

# Per-run settings: what profiles, stages and sweeps may set.
SETTINGS: tuple[Key, ...] = (
    Key("base_model", _t("string", "Base model: a hub id, a local folder, or `peftc:tiny-llama` "
                         "(the embedded tiny model). Required.", group="model"),
        run="model.name_or_path"),
    Key("revision_of_model", _t("string", "Model revision (branch, tag or commit).", group="model"),
        run="model.from_pretrained.revision"),
    Key("tokenizer_config", _t("string", "Tokenizer to load; defaults to base_model.",
                               group="model"),
        run="tokenizer.name_or_path"),
    Key("model_family", _enum(sorted(FAMILIES), "Model family (its architecture); read from "
                              "the model's config.json when at hand, else told from "
                              "base_model's name. Decides the default target modules.",
                              group="model"),
        run="model.family", own=True),
    Key("trust_remote_code", _bool("Run code from the model repository.",
                                   axolotl=True, group="model"),
        run="model.from_pretrained.trust_remote_code"),
    Key("model_type", _t("string", "transformers class that loads the model (e.g. "
                         "LlamaForCausalLM); ignored with trust_remote_code, as in Axolotl.",
                         "AutoModelForCausalLM", pattern="^[A-Za-z][A-Za-z0-9_]*$", axolotl=True,
                         group="model"),
        run="model.class"),
    Key("model_config", {"type": "object", "group": "model",
                         "description": "Attributes set on the model's config before the "
                                        "weights load (e.g. output_router_logits: true)."},
        run="model.config_overrides"),
    Key("tokenizer_type", _t("string", "transformers class that loads the tokenizer (e.g. "
                             "LlamaTokenizer).", "AutoTokenizer",
                             pattern="^[A-Za-z][A-Za-z0-9_]*$", axolotl=True, group="model"),
        run="tokenizer.class"),
    Key("special_tokens", {"type": "object", "group": "model", "additionalProperties": False,
                           "description": "Special tokens to set on the tokenizer, added to "
                           "the vocabulary when new (the embeddings grow to fit).",
                           "properties": {**{name: {"type": "string"} for name in SPECIAL_TOKENS},
                                          "additional_special_tokens": STR_LIST}},
        run="tokenizer.special_tokens",
        differs=("A token new to the vocabulary, except pad_token, needs lora_modules_to_save "
                 "to hold the model's two embedding modules, or the run stops before training "
                 "(E606). Axolotl asks for them only when the token's text splits into more "
                 "than two pieces, so a new short token trains with an embedding row nothing "
                 "ever updates.")),
    Key("tokens", {**STR_LIST, "group": "model", "description": "Tokens to add to the "
                   "vocabulary (not special); their embedding rows are new, so with an "
                   "adapter lora_modules_to_save must hold the two embedding modules."},
        run="tokenizer.tokens"),
    Key("resize_token_embeddings_to_32x", _bool("When the embeddings must grow for new tokens, "
                                                "round their rows up to a multiple of 32.",
                                                group="model"),
        run="model.resize_to_multiple_of"),
    Key("attn_implementation", _enum(ATTENTION, "Attention kernel. Unset, transformers' default "
                                     "for the architecture (sdpa where it can, else eager), as "
                                     "in Axolotl.", group="model"),
        run="model.from_pretrained.attn_implementation"),
    Key("flash_attention", _bool("Axolotl spelling of attn_implementation: flash_attention_2.",
                                 group="model"),
        run="model.from_pretrained.attn_implementation",
        differs=("Taken as attn_implementation: flash_attention_2, as Axolotl does, without its "
                 "deprecation warning.")),
    # -- adapter -----------------------------------------------------------------------
    Key("adapter", _enum(list(methods.NAMES), "PEFT method (a sweepable axis).", methods.DEFAULT,
                          group="adapter"),
        run="adapter.method"),
    Key("lora_r", _int("LoRA rank.", 16, minimum=1, group="adapter"),
        run="adapter.config.r"),
    Key("lora_alpha", _num("LoRA scaling numerator (scale = alpha / r).", 32, exclusiveMinimum=0,
                           group="adapter"),
        run="adapter.config.lora_alpha"),
    Key("lora_dropout", _num("Dropout on the LoRA path.", 0.0, minimum=0, maximum=1,
                             group="adapter", axolotl=True),
        run="adapter.config.lora_dropout"),
    Key("lora_bias", _enum(["none", "all", "lora_only"], "Which biases train.", "none",
                           axolotl=True, group="adapter"),
        run="adapter.config.bias"),
    Key("lora_fan_in_fan_out", _bool("The adapted layers store weights as (fan_in, fan_out), "
                                     "like GPT-2's Conv1D (PEFT fan_in_fan_out).", axolotl=True,
                                     group="adapter"),
        run="adapter.config.fan_in_fan_out"),
    Key("lora_target_modules", {"type": ["array", "string"], "items": {"type": "string"},
                                "description": "Modules to adapt; defaults to the family's "
                                "attention and MLP projections.", "group": "adapter"},
        run="adapter.config.target_modules",
        differs=("Absent, without lora_target_linear, Axolotl targets nothing and PEFT fails; "
                 "peftc targets the model family's attention and MLP projections, and "
                 "provenance.json says so (`derived: llama family projections`).")),
    Key("lora_target_linear", _bool("Adapt every linear layer (PEFT's all-linear).",
                                    group="adapter"),
        run="adapter.config.target_modules"),
    Key("added_tokens_overrides", {"type": "object", "group": "model",
                                   "propertyNames": {"pattern": "^[0-9]+$"},
                                   "additionalProperties": {"type": "string", "minLength": 1},
                                   "description": "Rename tokens the tokenizer already has as "
                                   "added tokens (the reserved tokens of Llama 3, Qwen, ...): "
                                   "token id -> new text. The id, and so its embedding row, "
                                   "stays."},
        run="tokenizer.added_tokens_overrides",
        differs="peftc also refuses a new text that is already another token."),
    Key("lora_modules_to_save", {**STR_LIST, "description": "Modules trained in full and saved "
                                 "with the adapter (e.g. embed_tokens, lm_head); new tokens "
                                 "need the family's two embedding modules here.",
                                 "group": "adapter"},
        run="adapter.config.modules_to_save"),
    Key("unfrozen_parameters", {**STR_LIST, "group": "adapter", "description": "Base-model "
                                "parameters trained in full beside the adapter: regular "
                                "expressions matched from the start of names as the model "
                                "spells them (model.layers.0.mlp.down_proj.weight); a dot is a "
                                "literal dot unless + follows it, as in Axolotl."},
        run="adapter.unfrozen_parameters",
        differs=("Axolotl matches the patterns against PEFT's prefixed names "
                 "(base_model.model.model...), so with an adapter patterns written for the "
                 "model's names match nothing and the adapter's own weights freeze too (the "
                 "gemma3 examples); peftc matches the model's names, keeps the adapter "
                 "trainable, stops on a pattern that matches nothing or only quantized weights "
                 "(E607), and saves the trained parameters beside the adapter "
                 "(unfrozen_parameters.safetensors, which peftc merge applies). Row ranges "
                 "([start:end]) are not supported yet.")),
    Key("peft_use_dora", _bool("Weight-decomposed LoRA (DoRA).", group="adapter"),
        run="adapter.config.use_dora"),
    Key("peft_use_rslora", _bool("Rank-stabilised scaling alpha / sqrt(r).", group="adapter"),
        run="adapter.config.use_rslora"),
    Key("peft_init_lora_weights", {
            "anyOf": [{"type": "boolean"}, {"enum": [
                "gaussian", "pissa", "olora", "loftq", "orthogonal", "corda", "eva"]},
                {"type": "string", "pattern": "^pissa_niter_[0-9]+$"}],
            "description": "LoRA initialisation (PEFT init_lora_weights); unset means PEFT's "
                           "default.", "group": "adapter"},
        run="adapter.config.init_lora_weights"),
    Key("pissa_init_mode", _t("string", "PiSSA init for adapter: pissa (`pissa` or "
                              "`pissa_niter_N`).", "pissa", pattern="^pissa(_niter_[0-9]+)?$",
                              group="adapter"),
        run="adapter.config.init_lora_weights", own=True),
    Key("loftq_config", {**_LOFTQ, "group": "adapter"},
        run="adapter.config.loftq_config", own=True),
    Key("peft", {"type": "object", "additionalProperties": False,
                 "properties": {"loftq_config": _LOFTQ},
                 "description": "Axolotl's PEFT block: loftq_config initialises LoRA with "
                                "LoftQ (taken as loftq_config with peft_init_lora_weights: "
                                "loftq).", "group": "adapter"},
        run="adapter.config.loftq_config"),
    Key("loraplus_lr_ratio", _num("LoRA+: lora_B learning rate = lr * ratio.",
                                  exclusiveMinimum=0, group="adapter"),
        run="adapter.loraplus.lr_ratio"),
    Key("loraplus_lr_embedding", _num("LoRA+: learning rate of embedding adapters; unset means "
                                      "PEFT's 1e-6.", exclusiveMinimum=0, group="adapter"),
        run="adapter.loraplus.lr_embedding"),
    Key("adalora_init_r", _int("AdaLoRA initial rank.", 12, minimum=1, group="adapter"),
        run="adapter.config.init_r", own=True),
    Key("adalora_target_r", _int("AdaLoRA average target rank.", 8, minimum=1, group="adapter"),
        run="adapter.config.target_r", own=True),
    Key("adalora_total_step", _int("AdaLoRA total steps; defaults to max_steps.", minimum=1,
                                   group="adapter"),
        run="adapter.config.total_step", own=True),
    Key("adalora_tinit", _int("AdaLoRA warmup steps before budgeting; default 10% of total.",
                              group="adapter"),
        run="adapter.config.tinit", own=True),
    Key("adalora_tfinal", _int("AdaLoRA final fine-tuning steps; default 80% of total.",
                               group="adapter"),
        run="adapter.config.tfinal", own=True),
    Key("adalora_deltaT", _int("AdaLoRA steps between budget updates; default 1% of total.",
                               minimum=1, group="adapter"),
        run="adapter.config.deltaT", own=True),
    Key("ia3_target_modules", {**STR_LIST, "description": "IA3 modules; defaults to the "
                               "family's key, value and down projections.", "group": "adapter"},
        run="adapter.config.target_modules", own=True),
    Key("ia3_feedforward_modules", {**STR_LIST, "description": "IA3 modules treated as "
                                    "feed-forward; defaults to the family's down projection.",
                                    "group": "adapter"},
        run="adapter.config.feedforward_modules", own=True),
    Key("num_virtual_tokens", _int("Virtual tokens (prompt, prefix, p-tuning).", 20, minimum=1,
                                   group="adapter"),
        run="adapter.config.num_virtual_tokens", own=True),
    Key("prompt_tuning_init_text", _t("string", "Initialise prompt tuning from this text.",
                                      group="adapter"),
        run="adapter.config.prompt_tuning_init_text", own=True),
    Key("encoder_hidden_size", _int("P-tuning prompt encoder width.", 128, minimum=1,
                                    group="adapter"),
        run="adapter.config.encoder_hidden_size", own=True),
    Key("prefix_projection", _bool("Prefix tuning: reparameterise prefixes through an MLP.",
                                   group="adapter"),
        run="adapter.config.prefix_projection", own=True),
    Key("relora", _bool("ReLoRA: every jagged_restart_steps steps, merge the adapter into the "
                        "base weights, re-initialise it and prune its optimizer state.",
                        axolotl=True, group="adapter"),
        run="adapter.relora"),
    Key("jagged_restart_steps", _int("Restart period in steps: ReLoRA's restarts and the "
                                     "jagged learning-rate schedule (which applies even "
                                     "without relora, as in Axolotl).", minimum=1,
                                     group="adapter"),
        run="trainer.jagged_lr.steps"),
    Key("jagged_restart_warmup_steps", _int("Steps the learning rate re-warms after each "
                                            "restart.", 10, minimum=1, axolotl=True,
                                            group="adapter"),
        run="trainer.jagged_lr.warmup_steps"),
    Key("jagged_restart_anneal_steps", _annotate(
        {"anyOf": [{"type": "integer", "minimum": 1}, {"const": False}],
         "description": "Steps the learning rate anneals before each restart (1 or false: "
                        "none)."}, 1, {"axolotl": True, "group": "adapter"}),
        run="trainer.jagged_lr.anneal_steps"),
    Key("relora_prune_method", _enum(["magnitude", "random", "reset"], "How a restart prunes "
                                     "the adapter's optimizer state: magnitude keeps the "
                                     "largest values, random a random share, reset is random "
                                     "at 0.999.", "magnitude", axolotl=True, group="adapter"),
        run="adapter.relora.prune_method"),
    Key("relora_prune_ratio", _num("Share of the optimizer state a restart zeroes; unset: 0.9 "
                                   "(0.999 for reset).", minimum=0, maximum=1,
                                   group="adapter"),
        run="adapter.relora.prune_ratio"),
    Key("neftune_noise_alpha", _num("NEFTune embedding noise scale.", exclusiveMinimum=0,
                                    group="adapter"),
        run="trainer.config.neftune_noise_alpha"),
    Key("lora_model_dir", _t("string", "A trained LoRA adapter to go on training: loaded "
                             "trainable, its adapter_config.json deciding r, alpha, targets "
                             "and dropout; with rl: dpo, merged into the base before a fresh "
                             "adapter.", group="adapter"),
        run="adapter.from_adapter",
        differs=("Where the spec gives r, alpha, targets or dropout other than the adapter's "
                 "own, peftc warns (W209) and records the adapter's values; Axolotl is "
                 "silent. With rl: dpo Axolotl does not load it at all; peftc merges it into "
                 "the base before the fresh DPO adapter, as sft_adapter does. A local folder "
                 "without adapter_config.json is an error before training (E221).")),
    Key("sft_adapter", _t("string", "Start from this SFT adapter: loaded, merged into the base, "
                          "then the fresh adapter is applied.", group="adapter"),
        run="adapter.sft_adapter.path", own=True),
    Key("sft_adapter_fallback", _bool("Accept the plain base model when sft_adapter is missing.",
                                      group="adapter"),
        run="adapter.sft_adapter.fallback_to_base", own=True),
    # -- quantization ------------------------------------------------------------------
    Key("load_in_4bit", _bool("Load the base model in 4 bits (bitsandbytes).",
                              axolotl=True, group="quant"),
        run="quantization.load_in_4bit",
        differs=("Same meaning, said out loud: with adapter: lora, Axolotl loads the model "
                 "unquantized (only adapter: qlora quantizes); peftc does the same and warns "
                 "(W207).")),
    Key("load_in_8bit", _bool("Load the base model in 8 bits (bitsandbytes).",
                              axolotl=True, group="quant"),
        run="quantization.load_in_8bit"),
    Key("bnb_4bit_quant_type", _enum(["nf4", "fp4"], "4-bit data type.", "nf4",
                                     axolotl=True, group="quant"),
        run="quantization.bnb_4bit_quant_type"),
    Key("bnb_4bit_use_double_quant", _bool("Quantize the quantization constants too.", True,
                                           axolotl=True, group="quant"),
        run="quantization.bnb_4bit_use_double_quant"),
    # -- data --------------------------------------------------------------------------
    Key("task", _t("string", "Built-in task plugin (metamath, magicoder, alpaca, csqa) or a "
                   "label for datasets given directly; picks the train profile under "
                   "profile: auto.", group="data"),
        run="data.datasets", own=True),
    Key("datasets", {"type": "array", "items": _DATASET, "minItems": 1,
                     "description": "Training datasets; a task plugin supplies them when unset.",
                     "group": "data"},
        run="data.datasets",
        differs=("A relative local path is looked for beside the spec, then in the working "
                 "directory (Axolotl: the working directory only); a path that can only be "
                 "local (./, ../, ~, a data-file suffix) and is in neither is an error that "
                 "names both places.")),
    Key("chat_template", _t("string", f"Chat template: {TOKENIZER_DEFAULT} (the tokenizer's "
                            f"own), a name ({', '.join(NAMED)}), {FALLBACK}<name> (the "
                            f"tokenizer's own, else the named one), {JINJA} (with "
                            "chat_template_jinja), or the Jinja template itself.",
                            TOKENIZER_DEFAULT, axolotl=True, group="data"),
        run="tokenizer.chat_template",
        differs=("phi_3 and phi_35 are Phi-3's own templates, as TRL keeps them: they end the "
                 "conversation with the EOS, which Axolotl's copies leave out (and Axolotl's "
                 "phi_3 adds a BOS). A Jinja string in chat_template itself is peftc's "
                 "shorthand for jinja + chat_template_jinja.")),
    Key("eot_tokens", {**STR_LIST, "group": "data",
                       "description": "chat_template: the tokens that end a turn, instead of "
                                      "the ones the template writes; each must be one token "
                                      "of the tokenizer."},
        run="data.eot_tokens",
        differs=("Unset, the end of turn is what the chat template writes after an answer; "
                 "Axolotl's default is the tokenizer's EOS.")),
    Key("chat_template_kwargs", {"type": "object", "group": "data",
                                 "description": "Variables for the chat template (e.g. "
                                                "{enable_thinking: false})."},
        run="data.chat_template_kwargs"),
    Key("chat_template_jinja", _t("string", "With chat_template: jinja, the Jinja template, or "
                                  "a file holding it (relative to the spec).", group="data"),
        run="tokenizer.chat_template"),
    Key("train_on_inputs", _bool("Compute the loss on prompts too, not only completions.",
                                 axolotl=True, group="data"),
        run="data.train_on_inputs"),
    Key("val_set_size", _num("Held-out share (< 1) or row count (>= 1) for evaluation.", 0.0,
                             minimum=0, axolotl=True, group="data"),
        run="data.val_set_size",
        differs=("Set alone (no eval_steps or evals_per_epoch), Axolotl holds the rows out but "
                 "never evaluates; peftc evaluates at each epoch's end and after the last "
                 "step.")),
    Key("dataset_exact_deduplication", _bool("Remove rows that are exact duplicates of an "
                                             "earlier row (after formatting, before the "
                                             "evaluation split).", group="data"),
        run="data.deduplicate"),
    Key("shuffle_merged_datasets", _bool("Shuffle the rows of all datasets together, with "
                                         "seed, before the evaluation split; false keeps the "
                                         "datasets' order, so the evaluation rows are the last "
                                         "ones. Training batches are drawn at random either "
                                         "way.", True, axolotl=True, group="data"),
        run="data.shuffle"),
    Key("excess_length_strategy", _enum(["drop", "truncate", "raise"], "Rows longer than "
                                        "sequence_len: drop them, truncate them to it, or "
                                        "stop the run before training. The run counts them.",
                                        "drop", axolotl=True, group="data"),
        run="data.excess_length",
        differs=("With truncate, Axolotl keeps SFT rows the cut leaves with no trained "
                 "token; peftc drops them (as any row with none). peftc counts the rows "
                 "dropped and truncated in metrics.json, and raise names how many rows are "
                 "too long.")),
    Key("dataset_prepared_path", _t("string", "Folder that keeps the prepared (loaded, "
                                    "formatted, tokenized) data for later runs with the same "
                                    "data files, tokenizer and data settings; unset: the "
                                    "datasets cache.", group="data"),
        run="data.prepared_path",
        differs=("Prepared data is reused only when the local files' content, the data "
                 "settings (val_set_size, the seed, the processing keys) and the tokenizer are "
                 "the same; Axolotl's key leaves out the content, val_set_size and the seed, "
                 "so an edited file can be served stale. Unset, Axolotl keeps it in "
                 "./last_run_prepared, peftc in the datasets cache (~/.cache/huggingface/"
                 "datasets/peftc-prepared); a relative path is beside the spec.")),
    Key("sequence_len", _int("Maximum tokens per example (or per packed sequence).", 512,
                             minimum=8, group="data", axolotl=True),
        run="trainer.config.max_length"),
    Key("sample_packing", _bool("Pack several examples into each sequence (TRL packing).",
                                axolotl=True, group="data"),
        run="trainer.config.packing"),
    Key("packing_strategy", _enum(["bfd", "bfd_split", "wrapped"],
                                  "How TRL packs: best-fit decreasing or wrapped.", "bfd",
                                  group="data"),
        run="trainer.config.packing_strategy", own=True),
    Key("padding_free", _bool("Concatenate a batch without padding (TRL padding_free).",
                              group="data"),
        run="trainer.config.padding_free", own=True),
    Key("eval_sample_packing", _bool("Pack evaluation data too.", group="data"),
        run="trainer.config.eval_packing"),
    Key("pad_to_sequence_len", _bool("Pad every batch to sequence_len.", group="data"),
        run="trainer.config.pad_to_multiple_of"),
    Key("max_prompt_len", _int("DPO: prompts are truncated to this many tokens.", minimum=1,
                               group="data"),
        run="data.max_prompt_length"),
    Key("sample_prompts", {**STR_LIST, "description": "Prompts generated from at each "
                           "evaluation, appended to samples.jsonl.", "group": "data"},
        run="samples.prompts", own=True),
    Key("sample_max_new_tokens", _int("Tokens generated per sample prompt.", 64, minimum=1,
                                      group="data"),
        run="samples.max_new_tokens", own=True),
    # -- batch -------------------------------------------------------------------------
    Key("micro_batch_size", _int("Examples per device per step.", 1, minimum=1,
                                 axolotl=True, group="batch"),
        run="trainer.config.per_device_train_batch_size"),
    Key("eval_batch_size", _int("Examples per device per evaluation step; defaults to "
                                "micro_batch_size.", minimum=1, group="batch"),
        run="trainer.config.per_device_eval_batch_size"),
    Key("gradient_accumulation_steps", _int("Micro-batches per optimizer step; derived from "
                                            "global_batch_size when that is set.", 1, minimum=1,
                                            axolotl=True, group="batch"),
        run="trainer.config.gradient_accumulation_steps"),
    Key("batch_size", _int("Examples per optimizer step on each device (Axolotl's): "
                           "gradient_accumulation_steps = batch_size // micro_batch_size.",
                           minimum=1, group="batch"),
        run="trainer.config.gradient_accumulation_steps"),
    Key("global_batch_size", _int("Target examples per optimizer step across all devices.",
                                  minimum=1, group="batch"),
        run="batch.global_batch_size", own=True),
    Key("num_gpus", _int("World size (total processes) the batch derivation assumes.", 1,
                         minimum=1, group="batch"),
        run="launch.num_processes", own=True),
    Key("num_machines", _int("Machines the run spans.", 1, minimum=1, group="batch"),
        run="launch.num_machines", own=True),
    # -- training ----------------------------------------------------------------------
    Key("rl", _enum([t.value for t in Trainer if t is not Trainer.SFT],
                    "Preference training with TRL's DPOTrainer; unset means SFT.",
                    group="training"),
        run="trainer.kind"),
    Key("rl_beta", _num("DPO beta (KL penalty).", 0.1, exclusiveMinimum=0, group="training"),
        run="trainer.config.beta"),
    Key("dpo_loss_type", {"anyOf": [_enum(DPO_LOSSES, ""), {"type": "array", "items": _enum(
            DPO_LOSSES, "")}], "description": "DPO loss (TRL loss_type), one or a list.",
            "default": "sigmoid", "group": "training"},
        run="trainer.config.loss_type"),
    Key("num_epochs", _num("Epochs; max_steps wins when both are set.", 1, exclusiveMinimum=0,
                           axolotl=True, group="training"),
        run="trainer.config.num_train_epochs"),
    Key("max_steps", _int("Optimizer steps; overrides num_epochs.", minimum=1, group="training"),
        run="trainer.config.max_steps"),
    Key("learning_rate", _num("Peak learning rate.", 2e-4, exclusiveMinimum=0, maximum=1,
                              group="training"),
        run="trainer.config.learning_rate"),
    Key("optimizer", _enum(OPTIMIZERS, "Optimizer (transformers optim name).",
                           "adamw_torch_fused", group="training", axolotl=True),
        run="trainer.config.optim"),
    Key("lr_scheduler", _enum(list(schedulers.NAMES), "Learning-rate schedule.",
                              schedulers.DEFAULT,
                              group="training", axolotl=True),
        run="trainer.config.lr_scheduler_type"),
    Key("lr_scheduler_kwargs", {"type": "object", "description": "Extra scheduler arguments.",
                                "group": "training"},
        run="trainer.config.lr_scheduler_kwargs"),
    Key("cosine_min_lr_ratio", _num("Floor of cosine_with_min_lr as a share of the peak rate "
                                    "(scheduler min_lr_rate).", 0.0, minimum=0, maximum=1,
                                    group="training"),
        run="trainer.config.lr_scheduler_kwargs"),
    Key("warmup_ratio", _num("Share of steps spent warming up. With max_steps it becomes "
                             "int(ratio x max_steps) warmup steps at compile time, as Axolotl "
                             "counts them (one step is made two). With neither warmup key set, "
                             "warmup is min(3% of the steps, 100), as in Axolotl.", minimum=0,
                             maximum=1, group="training"),
        run="trainer.config.warmup_steps"),
    Key("warmup_steps", _int("Warmup steps; overrides warmup_ratio.", group="training"),
        run="trainer.config.warmup_steps"),
    Key("weight_decay", _num("AdamW weight decay.", 0.0, minimum=0, axolotl=True,
                             group="training"),
        run="trainer.config.weight_decay"),
    Key("adam_beta1", _num("AdamW beta1.", 0.9, minimum=0, exclusiveMaximum=1, axolotl=True,
                           group="training"),
        run="trainer.config.adam_beta1"),
    Key("adam_beta2", _num("AdamW beta2.", 0.999, minimum=0, exclusiveMaximum=1,
                           axolotl=True, group="training"),
        run="trainer.config.adam_beta2"),
    Key("adam_epsilon", _num("AdamW epsilon.", 1e-8, exclusiveMinimum=0, axolotl=True,
                             group="training"),
        run="trainer.config.adam_epsilon"),
    Key("max_grad_norm", _num("Gradient clipping norm (0 disables).", 1.0, minimum=0,
                              axolotl=True, group="training"),
        run="trainer.config.max_grad_norm"),
    Key("bf16", _auto_bool("bfloat16 mixed precision (and bfloat16 weights). auto: resolved "
                           "by the runtime on the device the run gets: bf16 where the GPU "
                           "supports it, else fp16 on a GPU (unless fp16 is false), else fp32 "
                           "(CPU).", group="training"),
        run="precision.bf16",
        differs=("On a machine without a GPU, `auto` is fp32; Axolotl picks fp16, which a CPU "
                 "cannot run. Compile never probes the local GPU: `auto` is resolved where the run"
                 " trains.")),
    Key("fp16", _t("boolean", "float16 mixed precision; unset lets bf16: auto choose it.",
                   group="training"),
        run="precision.fp16"),
    Key("bfloat16", _bool("Load the weights in bfloat16, with or without bf16 mixed "
                          "precision.", axolotl=True, group="training"),
        run="precision.bfloat16"),
    Key("float16", _bool("Load the weights in float16 (unless bf16 or bfloat16), with or "
                         "without fp16 mixed precision; load_in_8bit does the same, as in "
                         "Axolotl.", axolotl=True, group="training"),
        run="precision.float16"),
    Key("tf32", _auto_bool("Allow TF32 matmuls. auto: on where the GPU has them (Ampere or "
                           "newer), resolved by the runtime.", group="training"),
        run="precision.tf32"),
    Key("gradient_checkpointing", _annotate(
        {"anyOf": [{"type": "boolean"}, {"enum": ["offload"]}],
         "description": "Recompute activations to save memory (use_reentrant: false); "
                        "offload: also activation_offloading, as Axolotl rewrites it."},
        False, {"axolotl": True, "group": "training"}),
        run="model.gradient_checkpointing"),
    Key("activation_offloading", _bool("Keep the activations saved for the backward pass in CPU "
                                       "memory (TRL's activation offloading); a machine without "
                                       "a GPU runs without it, its activations being there "
                                       "already.", axolotl=True, group="training"),
        run="trainer.config.activation_offloading",
        differs=("Axolotl's legacy, disk and hidden_states modes are not taken: TRL offloads "
                 "to CPU memory. Axolotl also refuses it without gradient_checkpointing; "
                 "peftc offloads either way.")),
    Key("gradient_checkpointing_kwargs", {
        "type": "object", "description": "Arguments of gradient checkpointing; unset: "
        "{use_reentrant: false}.", "group": "training"},
        run="model.gradient_checkpointing_kwargs",
        differs=("Unset, peftc checkpoints with use_reentrant: false, Axolotl with true; both "
                 "compute the same gradients.")),
    Key("seed", _int("Random seed (training and data splits).", 42, axolotl=True, group="training"),
        run="trainer.config.seed"),
    # -- outputs and logging -----------------------------------------------------------
    Key("strict", _bool("Axolotl: only limits which CLI overrides apply. No effect in peftc, "
                        "whose --set is always checked.", axolotl=True, group="training"),
        run=None),
    Key("output_dir", _t("string", "Where the adapter and logs go; default: the run folder's "
                         "output/.", group="output"),
        run="output_dir",
        differs=("Unset, it is the run folder's output/ (Axolotl: ./model-out); a relative one "
                 "is resolved against the spec's folder (Axolotl: the working directory), and "
                 "a sweep puts each run in its own subfolder.")),
    Key("logging_steps", _int("Log every N steps.", 10, minimum=1, group="output"),
        run="trainer.config.logging_steps"),
    Key("save_steps", _steps("Checkpoint every N steps (a number below 1: that share of the "
                             "steps); unset: at the end of each epoch, as in Axolotl.",
                             group="output"),
        run="trainer.config.save_steps"),
    Key("save_total_limit", _int("Checkpoints kept.", 4, minimum=1, group="output",
                                 axolotl=True),
        run="trainer.config.save_total_limit"),
    Key("eval_steps", _steps("Evaluate every N steps (a number below 1: that share of the "
                             "steps); needs val_set_size.", group="output"),
        run="trainer.config.eval_steps"),
    Key("eval_strategy", _enum(["no", "steps", "epoch"], "When to evaluate; unset: steps with "
                               "eval_steps, else each epoch's end with val_set_size, else no.",
                               group="output"),
        run="trainer.config.eval_strategy"),
    Key("early_stopping_patience", _int("Stop after this many evaluations in a row without "
                                        "a better metric_for_best_model (eval_loss); the "
                                        "adapter saved is the best evaluation's.", minimum=1,
                                        group="output"),
        run="trainer.early_stopping_patience",
        differs=("Axolotl needs explicit save_steps and eval_steps (evals_per_epoch and "
                 "saves_per_epoch do not count), and stops only SFT runs; peftc saves at each "
                 "evaluation when no save key is given, refuses saves that miss evaluations "
                 "(E219), and stops DPO runs too.")),
    Key("load_best_model_at_end", _bool("At the end, the adapter is the checkpoint with the "
                                        "best metric_for_best_model (saves must fall on "
                                        "evaluations).", axolotl=True, group="output"),
        run="trainer.config.load_best_model_at_end"),
    Key("metric_for_best_model", _t("string", "The evaluation metric that decides the best "
                                    "checkpoint; unset: eval_loss.", group="output"),
        run="trainer.config.metric_for_best_model"),
    Key("greater_is_better", _t("boolean", "Whether a larger metric_for_best_model is better; "
                                "unset: transformers decides from the metric's name (a loss "
                                "is better lower).", group="output"),
        run="trainer.config.greater_is_better"),
    Key("loss_watchdog_threshold", _num("Stop the run, failed, when the training loss stays "
                                        "above this for loss_watchdog_patience logged losses "
                                        "in a row.", exclusiveMinimum=0, group="output"),
        run="trainer.loss_watchdog.threshold",
        differs=("Axolotl counts the last logged loss again at every step, so with "
                 "logging_steps 10 one high loss stops the run three steps later; peftc counts "
                 "each logged loss once. Axolotl then saves and reports the run as finished "
                 "(SFT runs only); peftc marks it failed, keeps its checkpoints, and watches "
                 "DPO runs too.")),
    Key("loss_watchdog_patience", _int("Logged losses in a row above loss_watchdog_threshold "
                                       "that stop the run.", 3, minimum=1, axolotl=True,
                                       group="output"),
        run="trainer.loss_watchdog.patience"),
    # -- W&B: transformers' WandbCallback, configured through its environment variables ----
    Key("use_wandb", _t("boolean", "Report to Weights & Biases (a non-empty wandb_project "
                        "reports even when this is false, as in Axolotl). Needs peftc[wandb].",
                        group="output"),
        run="report.wandb",
        differs="Axolotl reports with wandb_project set even under use_wandb: false, silently; "
                "peftc does the same and warns (W210)."),
    Key("wandb_project", _t("string", "W&B project; set, the run reports to W&B.",
                            group="output"),
        run="report.wandb.project"),
    Key("wandb_entity", _t("string", "W&B team or user the run is logged under.",
                           group="output"),
        run="report.wandb.entity"),
    Key("wandb_name", _t("string", "W&B run name; unset: the run's id (wandb_run_id if set).",
                         group="output"),
        run="report.wandb.name",
        differs="Unset, Axolotl lets W&B pick a random name; peftc names each run of a sweep "
                "by its run id."),
    Key("wandb_run_id", _t("string", "W&B run id, to log into (resume) a given W&B run.",
                           group="output"),
        run="report.wandb.run_id"),
    Key("wandb_watch", _enum(["false", "gradients", "parameters", "all", False],
                             "Log gradients and/or parameter histograms (wandb.watch).",
                             group="output"),
        run="report.wandb.watch"),
    Key("wandb_log_model", _enum(["false", "end", "checkpoint", False],
                                 "Upload the adapter to W&B as an artifact: at the end, or at "
                                 "each checkpoint.", group="output"),
        run="report.wandb.log_model"),
    Key("wandb_mode", _enum(["online", "offline", "disabled", "shared"],
                            "W&B mode; offline writes the run's files locally (wandb sync "
                            "uploads them later).", group="output"),
        run="report.wandb.mode"),
    Key("save_strategy", _enum(["no", "steps", "epoch", "best"], "When to save a checkpoint; "
                               "unset: steps with save_steps, else each epoch's end.",
                               group="output"),
        run="trainer.config.save_strategy"),
    Key("resume_from_checkpoint", _t("string", "Checkpoint folder to resume from; unset: the "
                                     "run's own last checkpoint, if any.", group="output"),
        run="trainer.resume_from_checkpoint",
        differs=("Unset, peftc resumes an interrupted run from its own last checkpoint (Axolotl "
                 "needs auto_resume_from_checkpoints); a relative path is looked for beside "
                 "the spec, then in the working directory, and a missing one stops the run "
                 "before training.")),
    Key("remove_unused_columns", _bool("Drop the dataset columns the model's forward does not "
                                       "take (after TRL has tokenized, this cannot change "
                                       "what is trained).", group="output"),
        run="trainer.config.remove_unused_columns"),
    Key("dataset_num_proc", _int("Processes that tokenize the data.", minimum=1,
                                 group="data"),
        run="trainer.config.dataset_num_proc"),
    # -- distribution ------------------------------------------------------------------
    Key("evals_per_epoch", _int("Evaluations per epoch (needs val_set_size): eval_steps = "
                                "1 / (N * num_epochs) of the steps.", minimum=1, group="output"),
        run="trainer.config.eval_steps",
        differs=("When N * num_epochs is 1 or less, Axolotl never evaluates; peftc evaluates at "
                 "the end. peftc also evaluates after the final step when it is not a "
                 "multiple of eval_steps (Axolotl #1225).")),
    Key("saves_per_epoch", _int("Checkpoints per epoch: save_steps = 1 / (N * num_epochs) of "
                                "the steps; 1 is a save at each epoch's end.", minimum=1,
                                group="output"),
        run="trainer.config.save_steps"),
    Key("deepspeed", {"anyOf": [{"type": "string"}, {"type": "object"}],
                      "description": f"DeepSpeed: a preset ({_DS_PRESETS}), a JSON file, or "
                      "an inline mapping.",
                      "group": "distributed"},
        run="launch.deepspeed",
        differs=(f"Also takes peftc's presets ({_DS_PRESETS}); "
                 "a path is tried beside the spec, then in the working directory (Axolotl: "
                 "the working directory only). A missing file named like one Axolotl ships "
                 "(deepspeed_configs/zero2.json) is the peftc preset with its ZeRO stage and "
                 "offload, with warning W208 (Axolotl would pass the missing path on); any "
                 "other missing file is an error before training.")),
    Key("ddp_find_unused_parameters", _bool("DDP looks for parameters without gradients "
                                            "each step (slower; needed by some models).",
                                            axolotl=True, group="distributed"),
        run="trainer.config.ddp_find_unused_parameters"),
    Key("fsdp", {"anyOf": [_FSDP, {"type": "array", "items": {"enum": FSDP_WORDS}}],
                 "description": _FSDP["description"] + " Also Axolotl's deprecated list of "
                 "transformers' words (full_shard, auto_wrap, offload, ...).",
                 "group": "distributed"},
        run="launch.fsdp"),
    Key("fsdp_config", {"type": "object", "group": "distributed", "additionalProperties": False,
                        "description": "accelerate's FSDP settings (its launch config's fsdp_* "
                        "keys, with or without the prefix), written into accelerate.yaml.",
                        "patternProperties": {f"^(fsdp_)?{name}$": schema
                                              for name, schema in FSDP_SETTINGS.items()}},
        run="launch.fsdp",
        differs=("Axolotl drops sharding_strategy, forward_prefetch and backward_prefetch "
                 "silently; peftc passes them to accelerate. limit_all_gathers is taken as "
                 "true only (accelerate's default, which its launch config cannot change).")),
    Key("fsdp_version", _enum([1, 2], "FSDP version; unset with fsdp_config: 1, as Axolotl "
                              "pins it.", group="distributed"),
        run="launch.fsdp"),
)

# Axolotl keys peftc does not take, and second spellings.
OTHERS: tuple[Key, ...] = (
    # -- pending: Axolotl's meaning needs runtime work that is not there yet ----------------
    *(Key(name, way=Way.PENDING, note=note) for name, note in (
        ("use_tensorboard", "remove it; metrics.json holds the curves"),
        ("auto_resume_from_checkpoints", "remove it; an interrupted run resumes from its last "
         "checkpoint when run again"),
        ("group_by_length", "remove it"),
        ("lora_target_parameters", "remove it, or list modules in lora_target_modules"),
    )),
    # -- hints: speed or infrastructure only, they cannot change what is trained -----------
    *(Key(name, way=Way.HINT, note=note) for name, note in (
        ("plugins", "Axolotl plugins (Liger, Cut Cross Entropy, kernels) speed training up; "
         "peftc trains the same model without them"),
        *((k, "a Liger kernel (LigerPlugin); peftc trains with the model's own modules")
          for k in ("liger_rms_norm", "liger_glu_activation", "liger_layer_norm", "liger_rope",
                    "liger_rms_norm_gated", "liger_fused_linear_cross_entropy",
                    "liger_swiglu", "liger_cross_entropy")),
        ("cut_cross_entropy", "a fused loss (CutCrossEntropyPlugin); peftc computes the same "
         "loss unfused"),
        *((k, "Axolotl's fused LoRA kernels; peftc runs PEFT's LoRA layers")
          for k in ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel",
                    "lora_embedding_kernel")),
        ("relora_cpu_offload", "ReLoRA merges where the weights are"),
        ("torch_compile", "peftc runs the model uncompiled"),
        ("torch_compile_backend", "peftc runs the model uncompiled"),
        ("torch_compile_mode", "peftc runs the model uncompiled"),
        ("use_kernels", "hub kernels are not loaded; the model's own modules run"),
        ("use_scattermoe", "a MoE kernel (KernelsPlugin); peftc runs the model's experts"),
        ("use_sonicmoe", "a MoE kernel (KernelsPlugin); peftc runs the model's experts"),
        ("experts_implementation", "peftc runs the model's default experts implementation"),
        ("fused_attn_kernel", "peftc runs the model's own attention"),
        ("flex_attn_compile_kwargs", "peftc does not compile flex attention"),
        ("gemma4_hybrid_attn_impl", "set attn_implementation for the attention backend"),
        ("low_cpu_mem_usage", "transformers loads with low memory use by default"),
        ("experimental_skip_move_to_device", "accelerate places the model"),
        ("dataloader_num_workers", "peftc loads batches in the training process"),
        ("dataloader_pin_memory", "peftc pins memory when a GPU is there"),
        ("dataloader_prefetch_factor", "peftc loads batches in the training process"),
        ("debug", "Axolotl ignores it too; the CLI's --debug is what logs more"),
        ("do_causal_lm_eval", "Axolotl's extra evaluation metrics; peftc logs eval_loss"),
        ("eval_causal_lm_metrics", "Axolotl's extra evaluation metrics; peftc logs eval_loss"),
        ("eval_table_size", "Axolotl's W&B table of predictions; use sample_prompts for "
         "generations during training"),
        ("eval_max_new_tokens", "see eval_table_size; sample_max_new_tokens sets the length "
         "of sample_prompts' generations"),
    )),
    # -- refused: peftc does not take these -----------------------------------------------
    *(Key(name, way=Way.REFUSED, note=note) for name, note in (
        ("hub_model_id", "push the adapter from output_dir yourself"),
        ("hub_strategy", "push the adapter from output_dir yourself"),
        ("gptq", "GPTQ models are not supported; use load_in_4bit"),
        ("gptq_groupsize", "GPTQ models are not supported; use load_in_4bit"),
        ("gptq_model_v1", "GPTQ models are not supported; use load_in_4bit"),
        ("processor_type", "multimodal models are not supported: peftc trains causal "
         "language models"),
        ("xformers_attention", "use attn_implementation (eager, sdpa, flash_attention_2, ...)"),
        ("sdp_attention", "use attn_implementation: sdpa"),
        ("s2_attention", "use attn_implementation"),
        ("flash_attn_cross_entropy", "remove it"),
        ("flash_attn_rms_norm", "remove it"),
        ("unsloth_lora_mlp", "remove it"), ("unsloth_lora_qkv", "remove it"),
        ("unsloth_lora_o", "remove it"),
        ("local_rank", "remove it; the launcher sets the rank"),
        ("is_llama_derived_model", "use model_family"),
        ("is_mistral_derived_model", "use model_family"),
        ("is_qwen_derived_model", "use model_family"),
        ("max_memory", "remove it"), ("gpu_memory_limit", "remove it"),
        ("test_datasets", "use val_set_size"),
        ("lr_quadratic_warmup", "remove it"),
        ("max_packed_sequence_len", "use sequence_len with sample_packing"),
        ("torchdistx_path", "remove it"),
        ("push_dataset_to_hub", "remove it"),
        ("rl_adapter_ref_model", "remove it"),
    )),
    # -- second spellings ----------------------------------------------------------------
    Key("dpo_beta", way=Way.RENAMED, to="rl_beta"),
    Key("noisy_embedding_alpha", way=Way.RENAMED, to="neftune_noise_alpha"),
    Key("relora_steps", way=Way.RENAMED, to="jagged_restart_steps"),  # with relora: true
    Key("relora_warmup_steps", way=Way.RENAMED, to="jagged_restart_warmup_steps"),
    Key("model_revision", way=Way.ALIAS, to="revision_of_model"),
    Key("overrides_of_model_config", way=Way.ALIAS, to="model_config"),
    Key("lora_rank", way=Way.ALIAS, to="lora_r"),
)

KEYS: dict[str, Key] = {k.name: k for k in (*SETTINGS, *OTHERS)}


def settings_schema() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every per-run setting, by key."""
    return {k.name: k.schema for k in SETTINGS if k.schema is not None}


def refused() -> dict[str, str]:
    """Axolotl keys peftc refuses -> what to do instead."""
    return {k.name: k.note for k in OTHERS if k.way is Way.REFUSED}


def aliases() -> dict[str, str]:
    """Second spellings (aliases and renamed keys) -> the key they spell."""
    return {k.name: k.to for k in OTHERS if k.way in (Way.ALIAS, Way.RENAMED) and k.to}


DATASET_KEY: dict[str, Key] = {k.name: k for k in DATASET_KEYS}
# a datasets entry's second spellings (Axolotl's name -> peftc's): derive takes the key as the
# one it spells, and an entry that sets both is refused (E106)
DATASET_ALIASES: dict[str, str] = {k.name: k.to for k in DATASET_KEYS if k.to}

# Axolotl values of honoured keys that peftc takes another way: (key, value) -> (way, what to
# do). A value ending in ``.*`` stands for every value with that prefix.
_NAMED_TEMPLATES = ("this Axolotl template is not taken yet; use tokenizer_default (the "
                    "tokenizer's own template), jinja with chat_template_jinja, or another "
                    "name: " + ", ".join(NAMED))
VALUES: dict[tuple[str, str], tuple[Way, str]] = {
    ("gradient_checkpointing", "offload_disk"): (Way.PENDING, "use gradient_checkpointing: "
                                                 "offload (TRL offloads activations to CPU "
                                                 "memory, not to disk)"),
    **{("activation_offloading", mode): (Way.PENDING, "use activation_offloading: true (TRL "
                                         "offloads activations to CPU memory)")
       for mode in ("legacy", "disk", "hidden_states")},
    **{("attn_implementation", name): (Way.HINT, "transformers' default attention is used")
       for name in ("xformers", "sage", "fp8")},
    **{("type", old): (Way.RENAMED, f"write {new}: Axolotl renamed it (#2303)")
       for old, new in datasets.DPO_RENAMED.items()},
    ("type", "sharegpt"): (Way.REFUSED, "Axolotl removed it too: use type: chat_template with "
                           "message_property_mappings: {role: from, content: value}"),
    **{("chat_template", name): (Way.PENDING, _NAMED_TEMPLATES) for name in (
        "alpaca", "aya", "command_a", "command_a_rag", "command_a_tool_use", "deepseek_v2",
        "exaone", "exaone4", "falcon_h1", "gemma3n", "gemma4_unified", "jamba",
        "llama3_2_vision", "llama4", "llava", "metharme", "mistral_v3_tekken",
        "mistral_v7_tekken", "nemotron_h", "phi_4", "pixtral", "qwen2_vl", "qwen3_5")},
}


def value_way(name: Any, value: Any) -> tuple[Way, str] | None:
    """How peftc takes the Axolotl value ``value`` of key ``name``, when not as given."""
    if not isinstance(value, str):
        return None
    found = VALUES.get((name, value))
    for sep in ".", "_fallback_":  # chatml.intel -> chatml.*
        if found is None and sep in value:
            found = VALUES.get((name, value.split(sep, 1)[0] + sep + "*"))
    return found


def spelled_as(name: str, value: Any) -> dict[str, Any] | None:
    """The settings an Axolotl key stands for when it is a second spelling of several (None
    for any other key): ``peft: {loftq_config: X}`` is ``loftq_config: X`` with
    ``peft_init_lora_weights: loftq``, as Axolotl builds PEFT's LoftQ init from it; the old
    ``relora_steps: N`` is ``jagged_restart_steps: N`` with ``relora: true``."""
    if name == "relora_steps":  # Axolotl's old ReLoRA switch and period in one
        return {"jagged_restart_steps": value, "relora": True}
    if name != "peft" or not isinstance(value, dict):
        return None
    if "loftq_config" not in value:
        return {}
    return {"loftq_config": value["loftq_config"], "peft_init_lora_weights": "loftq"}


def record(path: tuple[Any, ...], name: str) -> Key | None:
    """The record of key ``name`` under ``path`` (top level, or a ``datasets[]`` entry)."""
    if not path:
        return KEYS.get(name)
    if len(path) >= 2 and path[-2] == "datasets":
        return DATASET_KEY.get(name)
    return None


def way(name: str) -> Way | None:
    """How peftc handles the top-level key ``name``; None when peftc does not know it."""
    key = KEYS.get(name)
    return key.way if key else None


@functools.lru_cache(maxsize=1)
def fields_reached() -> dict[str, list[str]]:
    """run.yaml field (dotted) -> the spec keys whose `Key.run` it is."""
    out: dict[str, list[str]] = {}
    for key in KEYS.values():
        if key.run:
            out.setdefault(key.run, []).append(key.name)
    return out


def keys_reaching(field: str) -> list[str]:
    """The spec keys behind run.yaml's ``field`` (dotted), most precise first: the keys whose
    `Key.run` is the longest prefix of ``field``, each with the rest of the path
    (``data.datasets.1`` -> ``datasets.1``, ``task.1``, then ``datasets``, ``task``), then
    the keys of the fields inside it (``report.wandb`` -> ``use_wandb``, then
    ``wandb_project``, ...)."""
    reached = fields_reached()
    parts = field.split(".")
    out: list[str] = []
    for n in range(len(parts), 0, -1):
        prefix, rest = ".".join(parts[:n]), parts[n:]
        names = reached.get(prefix, [])
        if names:
            out = [".".join([name, *rest]) for name in names if rest] + names
            break
    out += [n for run, names in reached.items() if run.startswith(field + ".") for n in names]
    return list(dict.fromkeys(out))
