"""Derived values: what the compiler computes after layering, each with its formula.

A value is derived only when no layer set it. Each derivation records its formula as the
source (``derived: ceil(768 / (1 * 8))``) and the place of its inputs, where a finding about
the value is reported. Derive judges nothing: what a spec gets wrong is a rule's to say
(``peftc.rules``), and a rule that needs the value a derivation replaced reads
``run.layered(key)``. Where a value cannot be derived, derive leaves it (or a stand-in) and
the rule that refuses the run says why.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from peftc.compiler.layers import Layer, Source, derived
from peftc.compiler.local import (
    ADAPTER_FIELDS,
    continued_adapter,
    read_template,
    same_as_adapter,
)
from peftc.compiler.resolved import ResolvedRun
from peftc.diagnostics import num
from peftc.vocab import catalog
from peftc.vocab.chat_templates import FALLBACK, JINJA, TOKENIZER_DEFAULT
from peftc.vocab.datasets import (
    DATASET_TYPES,
    DEFAULT_TYPE,
    DPO_BARE,
    DPO_RENAMED,
    Trainer,
)
from peftc.vocab.families import FAMILIES, family_of_name
from peftc.vocab.keys import (
    AXOLOTL_ROLES,
    CHAT_OPTIONS,
    DATASET_ALIASES,
    DATASET_KEY,
    KEYS,
    role_of,
)
from peftc.vocab.methods import INIT_LOFTQ, LOFTQ_DEFAULTS, METHODS, Peft
from peftc.vocab.schedulers import (
    AXOLOTL_WARMUP_CAP,
    AXOLOTL_WARMUP_RATIO,
    SCHEDULERS,
    axolotl_warmup,
)

if TYPE_CHECKING:
    from peftc.compiler.resolve import Resolver



class _Deriver:
    def __init__(self, run: ResolvedRun, resolver: Resolver):
        self.run = run
        self.v = run.values
        self.resolver = resolver

    def given(self, key: str) -> bool:
        return self.v.get(key) is not None

    def set(self, key: str, value: Any, formula: str, *inputs: str) -> None:
        loc = self.run.loc(inputs[0]) if inputs else (self.run.spec_file, 1, 1)
        self.v[key] = value
        self.run.sources[key] = derived(formula, loc)


def derive(run: ResolvedRun, resolver: Resolver) -> None:
    d = _Deriver(run, resolver)
    v = run.values
    if not d.given("base_model"):  # a stand-in to derive the rest with: rule E201 refuses
        v["base_model"] = catalog.TINY_LLAMA
    for step in (_model, _checkpointing, _adapter, _new_tokens, _lora_model_dir,
                 _batch, _schedule, _data, _conflicts):
        step(d)


def _model(d: _Deriver) -> None:
    v = d.v
    if not d.given("tokenizer_config"):
        d.set("tokenizer_config", v["base_model"], "base_model", "base_model")
    _architecture(d)
    auto = KEYS["model_type"].schema["default"]
    if v.get("trust_remote_code") and v["model_type"] != auto:  # as in Axolotl (rule W206)
        d.set("model_type", auto, "trust_remote_code: true", "model_type")
    if v.get("flash_attention") and d.run.source("flash_attention").above(
            d.run.source("attn_implementation")):
        d.set("attn_implementation", "flash_attention_2", "flash_attention: true",
              "flash_attention")
    fam = FAMILIES.get(v.get("model_family") or "")
    if fam is not None and not d.given("attn_implementation"):  # what transformers would pick
        d.set("attn_implementation", "sdpa" if fam.sdpa else "eager", "transformers' default "
              f"for the {v['model_family']} architecture", "base_model")
    # bf16/tf32 "auto" stay auto: the runtime resolves them on the device the run gets.
    if v.get("fp16") is None:
        auto = v["bf16"] == "auto"
        d.set("fp16", "auto" if auto else False, "bf16: auto picks fp16 on a GPU without bf16"
              if auto else "fp16 unset", "bf16")
    elif v["fp16"] is True and v["bf16"] == "auto":
        d.set("bf16", False, "fp16: true", "fp16")


def _architecture(d: _Deriver) -> None:
    """The model's architecture: from its own config.json when at hand (a local folder, the
    Hugging Face cache, or the hub with --resolve-models), else from its name. The source is
    the provenance of model_family."""
    v = d.v
    config = d.resolver.model_config(d.run)
    d.run.model_config = config
    if d.given("model_family"):  # rule W212 compares it with the config.json
        return
    if v["base_model"] in catalog.EMBEDDED_MODELS:
        d.set("model_family", catalog.EMBEDDED_MODELS[v["base_model"]], "the embedded model",
              "base_model")
    elif config is not None:
        d.set("model_family", config.family, config.describe(), "base_model")
    else:
        fam = family_of_name(v["base_model"])
        d.set("model_family", fam, "the model id's name (no config.json at hand)"
              if fam else "unknown: no config.json at hand, and the id names no family",
              "base_model")


def _new_tokens(d: _Deriver) -> None:
    """added_tokens_overrides with int ids (that the new tokens' embeddings are trained is
    rule E218's, and the runtime's once the tokenizer is loaded: E606)."""
    v = d.v
    if v.get("added_tokens_overrides"):  # YAML gives int keys, or strings when quoted
        v["added_tokens_overrides"] = {int(i): text for i, text in
                                       v["added_tokens_overrides"].items()}


def _lora_model_dir(d: _Deriver) -> None:
    """Going on training an adapter: PEFT loads it with its own config, so its values are the
    run's (a spec that says otherwise: rule W209; a folder that is not a LoRA adapter: rule
    E221). For DPO it is merged into the base, and the spec's values are the fresh
    adapter's."""
    v = d.v
    config = continued_adapter(d.run)
    for key, field in ADAPTER_FIELDS if config else ():
        if not same_as_adapter(field, config.get(field), v.get(key)):
            d.set(key, config.get(field), "lora_model_dir's adapter_config.json",
                  "lora_model_dir")


def _family_default(d: _Deriver, key: str, fact: str, what: str) -> None:
    """Set ``key`` from the model family's table unless a layer set it. On an architecture
    the table does not know, LoRA targets every linear layer (PEFT's all-linear)."""
    if d.given(key):
        return
    fam = d.v.get("model_family")
    if fam is None and key == "lora_target_modules":  # rule I211 says so
        d.set(key, "all-linear", "architecture not in the family table", "base_model")
        return
    if fam is None:  # nothing to pick from: rule E210
        return
    d.set(key, list(getattr(FAMILIES[fam], fact)), f"{fam} family {what}", "base_model")


def _jagged(d: _Deriver) -> None:
    if d.v.get("jagged_restart_anneal_steps") is False:  # Axolotl: `or 1`
        d.set("jagged_restart_anneal_steps", 1, "false: no anneal (1 step)",
              "jagged_restart_anneal_steps")


def _relora(d: _Deriver) -> None:
    """What Axolotl's ReLoRA needs (checked where Axolotl fails, or where peftc cannot yet)."""
    v = d.v
    if v.get("relora_prune_ratio") is None:  # Axolotl's defaults
        reset = v["relora_prune_method"] == "reset"
        d.set("relora_prune_ratio", 0.999 if reset else 0.9,
              "relora_prune_method reset" if reset else "Axolotl's default", "relora")


def _adapter(d: _Deriver) -> None:
    v = d.v
    method = v["adapter"]
    record = METHODS[method]
    if record.lora_like:
        if v.get("lora_target_linear"):
            # Axolotl targets every linear layer but the output head, plus the listed modules,
            # which are linear layers too: PEFT's all-linear either way
            listed = " (with the listed modules)" if d.given("lora_target_modules") else ""
            d.set("lora_target_modules", "all-linear", f"lora_target_linear: true{listed}",
                  "lora_target_linear")
        else:  # Axolotl would target nothing, and PEFT would fail
            _family_default(d, "lora_target_modules", "targets", "projections")
    if record.axolotl and not record.quantizes and v.get("load_in_4bit") and \
            d.run.source("adapter").layer is not Layer.DEFAULT:
        # Axolotl builds a BitsAndBytesConfig for adapter: qlora only (rule W207 says so)
        d.set("load_in_4bit", False, "adapter: lora loads unquantized, as in Axolotl", "adapter")
    if v.get("load_in_8bit") and not v["float16"]:  # Axolotl loads 8-bit models in float16
        d.set("float16", True, "load_in_8bit: float16 weights (unless bf16), as in Axolotl",
              "load_in_8bit")
    if record.peft is Peft.IA3:
        _family_default(d, "ia3_target_modules", "ia3", "key, value and feed-forward modules")
        _family_default(d, "ia3_feedforward_modules", "ff", "feed-forward modules")
    if record.init_from and not d.given("peft_init_lora_weights"):
        d.set("peft_init_lora_weights", v[record.init_from], record.init_from,
              record.init_from)
    if v.get("peft_init_lora_weights") == INIT_LOFTQ:
        cfg = dict(v.get("loftq_config") or {})
        for k, default in LOFTQ_DEFAULTS.items():
            if k not in cfg:
                cfg[k] = default
                d.run.sources[f"loftq_config.{k}"] = Source("default", d.run.loc(
                    "peft_init_lora_weights"), Layer.DEFAULT)
        v["loftq_config"] = cfg
    if record.peft is Peft.ADALORA:
        total = v.get("adalora_total_step")
        if total is None and v.get("max_steps") is not None:
            total = v["max_steps"]
            d.set("adalora_total_step", total, "max_steps", "max_steps")
        if total is None:
            return  # nothing to budget over: rule E204
        for key, share in (("adalora_tinit", 0.10), ("adalora_tfinal", 0.80),
                           ("adalora_deltaT", 0.01)):
            if not d.given(key):
                value = max(1, int(share * total)) if key == "adalora_deltaT" else int(
                    share * total)
                d.set(key, value, f"int({share:.2f} * {total})", "adalora_total_step")


def accumulation(target: int, micro: int, world: int) -> tuple[int, str]:
    """Gradient accumulation for a target global batch: the value and its formula."""
    return math.ceil(target / (micro * world)), f"ceil({target} / ({micro} * {world}))"


def _batch(d: _Deriver) -> None:
    v = d.v
    run = d.run
    mbs, ngpu = v["micro_batch_size"], v["num_gpus"]
    target = v.get("global_batch_size")
    per_device = v.get("batch_size")
    # batch keys that say the batch twice, or cannot be met: rule E209
    if per_device is not None and target is None and per_device >= mbs and \
            run.source("gradient_accumulation_steps").layer is Layer.DEFAULT:
        d.set("gradient_accumulation_steps", per_device // mbs, f"{per_device} // {mbs}",
              "batch_size")  # Axolotl's: GA = batch_size // micro_batch_size
    if target is not None:
        ga_src = run.source("gradient_accumulation_steps")
        gbs_src = run.source("global_batch_size")
        accum, formula = accumulation(target, mbs, ngpu)
        if not ga_src.above(gbs_src) or ga_src.layer is Layer.DEFAULT:
            d.set("gradient_accumulation_steps", accum, formula, "global_batch_size")
    ga = v["gradient_accumulation_steps"]
    eff = ga * mbs * ngpu
    d.set("effective_global_batch_size", eff, f"{ga} * {mbs} * {ngpu}",
          "gradient_accumulation_steps")  # not the target when it does not divide: rule W201


def _schedule(d: _Deriver) -> None:
    v = d.v
    kwargs = dict(v.get("lr_scheduler_kwargs") or {})
    if SCHEDULERS[v["lr_scheduler"]].min_lr and "min_lr_rate" not in kwargs and \
            "min_lr" not in kwargs:
        kwargs["min_lr_rate"] = v["cosine_min_lr_ratio"]
        v["lr_scheduler_kwargs"] = kwargs
        d.run.sources["lr_scheduler_kwargs.min_lr_rate"] = derived(
            "cosine_min_lr_ratio", d.run.loc("cosine_min_lr_ratio"))
    elif "lr_scheduler_kwargs" not in v or v["lr_scheduler_kwargs"] is None:
        v["lr_scheduler_kwargs"] = kwargs
    if not d.given("warmup_steps") and not d.given("warmup_ratio"):
        _default_warmup(d)
    elif not d.given("warmup_steps") and d.given("max_steps"):
        _ratio_warmup(d)
    elif v.get("warmup_steps") == 1:  # rule W214 says so
        d.set("warmup_steps", 2, "Axolotl turns warmup_steps 1 into 2", "warmup_steps")
    _evaluation_and_saves(d)


def _per_epoch(d: _Deriver, key: str, target: str) -> None:
    """Axolotl's evals_per_epoch / saves_per_epoch: ``target`` = 1 / (N * num_epochs) of the
    steps (transformers reads a float below 1 as a share of the steps) when that is below 1."""
    v = d.v
    if d.given(target):  # both say when: rule E216
        return
    n = v[key] * v["num_epochs"]
    if n > 1:
        d.set(target, 1 / n, f"1 / ({key} {v[key]} * num_epochs {num(v['num_epochs'])})", key)


def _evaluation_and_saves(d: _Deriver) -> None:
    v = d.v
    if d.given("saves_per_epoch"):
        _per_epoch(d, "saves_per_epoch", "save_steps")  # else one save per epoch, as unset
    if v.get("val_set_size") and d.given("evals_per_epoch"):
        _per_epoch(d, "evals_per_epoch", "eval_steps")  # else once per epoch, at its end
    # Axolotl's rules: a *_steps key means steps (a strategy that disagrees: rule E216)
    given = v.get("eval_strategy")
    if not v.get("val_set_size"):
        d.set("eval_strategy", "no", "val_set_size 0: no evaluation data", "val_set_size")
    elif v.get("eval_steps"):
        d.set("eval_strategy", "steps", "eval_steps", "eval_steps")
    elif given is None:  # Axolotl would not evaluate at all (transformers' "no")
        d.set("eval_strategy", "epoch", "val_set_size: each epoch's end (peftc)",
              "val_set_size")
    # Axolotl evaluates once before the first step when eval_steps or eval_strategy asks
    d.set("eval_on_start", v["eval_strategy"] != "no" and (
        bool(v.get("eval_steps")) or given is not None), "eval_steps or eval_strategy given",
        "val_set_size")
    if v.get("save_steps"):
        d.set("save_strategy", "steps", "save_steps", "save_steps")
    elif v.get("save_strategy") is None:
        d.set("save_strategy", "epoch", "Axolotl's default: each epoch's end", "num_epochs")
    _best_checkpoint(d)


_SAVE_KEYS = ("save_strategy", "save_steps", "saves_per_epoch")


def best_checkpoint_key(v: dict[str, Any]) -> str | None:
    """The first key that asks to compare evaluations (early stopping, the best checkpoint)."""
    return next((k for k, on in (("early_stopping_patience", v.get("early_stopping_patience")),
                                 ("load_best_model_at_end", v.get("load_best_model_at_end")),
                                 ("save_strategy", v.get("save_strategy") == "best")) if on),
                None)


def saves_written(run: ResolvedRun) -> list[str]:
    """The save keys a layer above the defaults wrote."""
    return [k for k in _SAVE_KEYS if run.source(k).layer not in (Layer.DEFAULT, Layer.DERIVED)
            and run.values.get(k) is not None]


def _best_checkpoint(d: _Deriver) -> None:
    """Early stopping and the best checkpoint compare evaluations, and the best one must have
    been saved: transformers refuses load_best_model_at_end unless saves fall on evaluations
    (at run time); here that is settled before, saves following evaluations when no save key
    was given."""
    v = d.v
    patience = v.get("early_stopping_patience")
    key = best_checkpoint_key(v)
    if key is None:
        return
    if v["eval_strategy"] == "no":
        return  # nothing to compare: rule E219
    if not d.given("metric_for_best_model"):
        d.set("metric_for_best_model", "eval_loss", f"{key}: the evaluation loss", key)
    if patience and not v.get("load_best_model_at_end"):
        d.set("load_best_model_at_end", True, "early_stopping_patience: the adapter is the "
              "best evaluation's (as in Axolotl)", key)
    if not v.get("load_best_model_at_end") or v["save_strategy"] == "best":
        return
    if not saves_written(d.run):  # saves follow evaluations; written ones must (rule E219)
        d.set("save_strategy", v["eval_strategy"], f"{key}: a save at each evaluation, to "
              "keep the best", key)
        d.set("save_steps", v.get("eval_steps"), f"{key}: a save at each evaluation", key)


def _checkpointing(d: _Deriver) -> None:
    """Axolotl rewrites ``gradient_checkpointing: offload`` into checkpointing plus activation
    offloading."""
    if d.v["gradient_checkpointing"] == "offload":
        d.set("gradient_checkpointing", True, "offload: checkpointing plus activation "
              "offloading (Axolotl's rewrite)", "gradient_checkpointing")
        d.set("activation_offloading", True, "gradient_checkpointing: offload",
              "gradient_checkpointing")


def _ratio_warmup(d: _Deriver) -> None:
    """warmup_ratio with max_steps known: Axolotl converts it here, to int(ratio x steps)
    (transformers would round up), so the run gets that count."""
    v = d.v
    steps = axolotl_warmup(v["warmup_ratio"], v["max_steps"])
    d.set("warmup_steps", steps, f"int(warmup_ratio {num(v['warmup_ratio'])} * max_steps "
          f"{v['max_steps']}) (Axolotl's conversion)", "warmup_ratio")


def _default_warmup(d: _Deriver) -> None:
    """Axolotl's warmup when neither key is set: min(int(3% of the steps), 100). With max_steps
    the count is known here; otherwise the runtime caps the 3% once it knows the steps."""
    v = d.v
    if v.get("max_steps") is not None:
        steps = axolotl_warmup(AXOLOTL_WARMUP_RATIO, v["max_steps"], AXOLOTL_WARMUP_CAP)
        d.set("warmup_steps", steps, f"min(int({AXOLOTL_WARMUP_RATIO} * {v['max_steps']}), "
              f"{AXOLOTL_WARMUP_CAP}) (Axolotl's default warmup)", "max_steps")
    else:
        d.set("warmup_ratio", AXOLOTL_WARMUP_RATIO, "Axolotl's default warmup: "
              f"min(int({AXOLOTL_WARMUP_RATIO} * steps), {AXOLOTL_WARMUP_CAP})", "num_epochs")
        d.set("max_warmup_steps", AXOLOTL_WARMUP_CAP, "Axolotl's default warmup cap",
              "num_epochs")


def _data(d: _Deriver) -> None:
    v = d.v
    trainer = Trainer.of(v.get("rl"))
    dpo = trainer is Trainer.DPO
    if not v.get("datasets"):  # no data: rule E211
        v["datasets"] = []
    items = []
    for item in v["datasets"]:
        item = dict(item)
        for alias, canonical in DATASET_ALIASES.items():  # Axolotl's field is field_text
            if alias in item:
                item[canonical] = item.pop(alias)
        item.setdefault("split", DATASET_KEY["split"].schema["default"])
        if "type" not in item:
            item["type"] = DEFAULT_TYPE[trainer]
        if dpo:  # as Axolotl resolves DPO types: a bare name is <name>.default
            item["type"] = DPO_RENAMED.get(item["type"], item["type"])
            item["type"] = DPO_BARE.get(item["type"], item["type"])
        dtype = DATASET_TYPES[item["type"]]
        own = item.get("chat_template", TOKENIZER_DEFAULT)  # Axolotl writes this default
        if own in (TOKENIZER_DEFAULT, v["chat_template"]) or own.startswith(FALLBACK):
            item.pop("chat_template", None)  # the run's (a fallback of its own: E107)
            item.pop("chat_template_jinja", None)
        else:  # a template of its own; one that cannot be read stays as written (rule E214)
            text, _ = read_template(own, item.get("chat_template_jinja"), d.resolver.spec_dir)
            if text is not None:
                item["chat_template"] = text
                item.pop("chat_template_jinja", None)
        if dtype.chat:  # Axolotl's defaults, as its strategy fills them
            _chat_entry(item)
        items.append(item)  # its type, path and first rows are the data rules' (E212-E225)
    v["datasets"] = items
    d.set("padding_side", "left" if dpo else "right", "left for DPO, right for SFT", "rl")


def _chat_entry(item: dict[str, Any]) -> None:
    """Fill a chat_template entry as Axolotl does: the options' defaults, the role map, the
    message keys (message_field_role/content are the older spelling of the mappings, which
    win), and roles_to_train named as the template names roles (gpt -> assistant)."""
    for name in CHAT_OPTIONS:
        item.setdefault(name, DATASET_KEY[name].schema.get("default"))
    if item["train_on_eot"] is None:
        item["train_on_eot"] = item["train_on_eos"]
    item["roles"] = item.get("roles") or AXOLOTL_ROLES
    item["message_property_mappings"] = {
        "role": item.pop("message_field_role", "role"),
        "content": item.pop("message_field_content", "content"),
        **(item.get("message_property_mappings") or {})}
    to_template = role_of(item["roles"])
    item["roles_to_train"] = [to_template.get(r, r) for r in item["roles_to_train"]]


def _chat_template(d: _Deriver) -> None:
    """The run's chat template: a name, a fallback to one, or Jinja text (given, or read from
    chat_template_jinja's file)."""
    v = d.v
    text, _ = read_template(v["chat_template"], v.get("chat_template_jinja"),
                            d.resolver.spec_dir)
    if v["chat_template"] == JINJA and text and text != v.get("chat_template_jinja"):
        d.set("chat_template_jinja", text, "the text of the file chat_template_jinja names",
              "chat_template_jinja")


def _wandb(d: _Deriver) -> None:
    """Axolotl's reading of the W&B keys (``setup_wandb_env_vars``)."""
    v = d.v
    if v.get("wandb_run_id") and not v.get("wandb_name"):
        d.set("wandb_name", v["wandb_run_id"], "wandb_run_id (as in Axolotl)", "wandb_run_id")


def _conflicts(d: _Deriver) -> None:
    v = d.v
    _chat_template(d)
    _wandb(d)
    _jagged(d)
    if v.get("relora"):
        _relora(d)

