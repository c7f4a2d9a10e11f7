"""Axolotl keys, one group at a time: each key's meaning in run.yaml, not only that it compiles."""

import json
from pathlib import Path

import pytest
import yaml

from peftc.compiler import compile_spec, resolve_spec
from peftc.diagnostics import PeftcError
from tests.conftest import findings
from tests.test_axolotl_defaults import MINIMAL


def run_yaml(write_spec, tmp_path, extra: str, name: str = "spec.yaml") -> dict:
    out = tmp_path / ("out-" + name)
    result = compile_spec(write_spec(MINIMAL + extra, name), out)
    return yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())


@pytest.mark.parametrize("extra,eval_steps,strategy", [
    ("val_set_size: 0.05\nevals_per_epoch: 4\n", 0.25, "steps"),
    ("val_set_size: 0.05\nevals_per_epoch: 2\nnum_epochs: 2\n", 0.25, "steps"),
    # N * epochs = 1: Axolotl never evaluates; peftc evaluates once, at the end
    ("val_set_size: 0.05\nevals_per_epoch: 1\n", None, "epoch"),
    ("evals_per_epoch: 4\n", None, "no"),  # no evaluation data: nothing to evaluate
])
def test_evals_per_epoch(write_spec, tmp_path, extra, eval_steps, strategy):
    tr = run_yaml(write_spec, tmp_path, extra)["trainer"]["config"]
    assert (tr["eval_steps"], tr["eval_strategy"]) == (eval_steps, strategy)
    assert tr["eval_on_start"] is (strategy == "steps")  # Axolotl: a baseline before step 1


@pytest.mark.parametrize("extra,save_steps,strategy", [
    ("saves_per_epoch: 4\n", 0.25, "steps"),
    ("saves_per_epoch: 1\n", None, "epoch"),
    ("save_steps: 0.1\n", 0.1, "steps"),
])
def test_saves_per_epoch(write_spec, tmp_path, extra, save_steps, strategy):
    tr = run_yaml(write_spec, tmp_path, extra)["trainer"]["config"]
    assert (tr["save_steps"], tr["save_strategy"]) == (save_steps, strategy)


def test_per_epoch_and_steps_are_exclusive(write_spec):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "saves_per_epoch: 2\nsave_steps: 100\n"))
    assert [d.code for d in exc.value.diagnostics] == ["E216"]


def test_model_and_tokenizer_classes(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "model_type: LlamaForCausalLM\n"
                   "tokenizer_type: LlamaTokenizer\n")
    assert (run["model"]["class"], run["tokenizer"]["class"]) == (
        "LlamaForCausalLM", "LlamaTokenizer")
    default = run_yaml(write_spec, tmp_path, "", "plain.yaml")
    assert (default["model"]["class"], default["tokenizer"]["class"]) == (
        "AutoModelForCausalLM", "AutoTokenizer")


def test_model_type_is_ignored_with_remote_code_and_said(write_spec):
    spec = write_spec(MINIMAL + "model_type: LlamaForCausalLM\ntrust_remote_code: true\n")
    assert resolve_spec(spec).runs[0].values["model_type"] == "AutoModelForCausalLM"
    [w] = [d for d in findings(spec) if d.code == "W206"]
    assert (w.line, w.col) == (10, 13)  # at the model_type value


def test_training_keys_reach_their_fields(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "gradient_checkpointing: true\n"
                   "gradient_checkpointing_kwargs: {use_reentrant: true}\neval_batch_size: 8\n"
                   "lora_fan_in_fan_out: true\nddp_find_unused_parameters: true\n"
                   "num_gpus: 2\nstrict: false\n")
    tr = run["trainer"]["config"]
    assert run["model"]["gradient_checkpointing_kwargs"] == {"use_reentrant": True}
    assert tr["activation_checkpointing_kwargs"] == {"use_reentrant": True}
    assert tr["per_device_eval_batch_size"] == 8 and tr["ddp_find_unused_parameters"] is True
    assert run["adapter"]["config"]["fan_in_fan_out"] is True
    one = run_yaml(write_spec, tmp_path, "", "one.yaml")
    assert one["trainer"]["config"]["ddp_find_unused_parameters"] is None  # one process
    assert one["model"]["gradient_checkpointing_kwargs"] == {"use_reentrant": False}


def test_false_switches_ask_for_nothing(write_spec, tmp_path):
    """`gptq: false`, `torch_compile: false`: off is what peftc does; no finding, no effect."""
    compiled = resolve_spec(write_spec(MINIMAL + "gptq: false\ntorch_compile: false\n"
                                       "debug: false\nload_best_model_at_end: false\n"))
    assert not compiled.warnings
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "gptq: true\n", "gptq.yaml"))
    assert [d.code for d in exc.value.diagnostics] == ["E105"]


def test_a_speed_hint_reaches_no_run(write_spec):
    [plain] = resolve_spec(write_spec(MINIMAL, "plain.yaml")).runs
    compiled = resolve_spec(write_spec(MINIMAL + "plugins: [axolotl.integrations.liger."
                                       "LigerPlugin]\nliger_rms_norm: true\n"
                                       "torch_compile: true\n", "hinted.yaml"))
    # the run id ends in a hash of the resolved run: the same run
    assert compiled.runs[0].run_id.rsplit("-", 1)[1] == plain.run_id.rsplit("-", 1)[1]
    assert [d.code for d in compiled.warnings] == ["W204"] * 3


def test_target_linear_with_a_module_list_is_every_linear_layer(write_spec, tmp_path):
    """Axolotl unions lora_target_linear's layers with the listed ones (seed 003's templates
    set both): every linear layer but the output head."""
    run = run_yaml(write_spec, tmp_path, "lora_target_linear: true\n"
                   "lora_target_modules: [q_proj, v_proj]\n")
    assert run["adapter"]["config"]["target_modules"] == "all-linear"


def test_axolotls_shipped_deepspeed_file_is_its_preset_when_not_here(write_spec, tmp_path):
    """Axolotl configs cite deepspeed_configs/zero2.json without having it; Axolotl's zero2.json
    is ZeRO-2 with the optimizer offloaded to CPU: peftc's zero2_offload, said out loud."""
    def deepspeed(extra: str, name: str):
        out = tmp_path / ("out-" + name)
        result = compile_spec(write_spec(MINIMAL + extra, name), out)
        folder = out / "runs" / result.runs[0].run_id
        return result, json.loads((folder / "deepspeed.json").read_text())

    result, cited = deepspeed("deepspeed: deepspeed_configs/zero2.json\n", "cited.yaml")
    [w] = [w for w in result.warnings if w.code == "W208"]
    assert (w.code, w.line) == ("W208", 10) and "preset 'zero2_offload'" in w.message
    assert str(tmp_path / "deepspeed_configs" / "zero2.json") in w.message
    assert cited == deepspeed("deepspeed: zero2_offload\n", "preset.yaml")[1]
    with pytest.raises(PeftcError) as exc:  # a file Axolotl does not ship: an error
        run_yaml(write_spec, tmp_path, "deepspeed: configs/mine.json\n", "mine.yaml")
    assert [d.code for d in exc.value.diagnostics] == ["E401"]
    (tmp_path / "deepspeed_configs").mkdir()  # found beside the spec: taken as it is
    (tmp_path / "deepspeed_configs" / "zero2.json").write_text(
        '{"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": "auto"}')
    result, found = deepspeed("deepspeed: deepspeed_configs/zero2.json\n", "ds.yaml")
    assert "W208" not in {w.code for w in result.warnings}
    assert "offload_optimizer" not in found["zero_optimization"]


CHAT = """
base_model: NousResearch/Llama-3.2-1B
adapter: lora
datasets:
  - path: org/sharegpt
    type: chat_template
"""


def test_chat_template_entries_carry_axolotls_mappings_and_roles(write_spec, tmp_path):
    entry = run_yaml(write_spec, tmp_path, "", "plain.yaml")["data"]["datasets"][0]
    assert "roles" not in entry and "message_property_mappings" not in entry  # alpaca
    out = tmp_path / "chat"
    result = compile_spec(write_spec(CHAT + "    field_messages: conversations\n"
                                     "    message_property_mappings: {role: from, "
                                     "content: value}\n", "chat.yaml"), out)
    run = yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())
    [entry] = run["data"]["datasets"]
    assert entry["fields"] == {"messages": "conversations"}
    assert entry["message_property_mappings"] == {"role": "from", "content": "value"}
    assert entry["roles"] == {"user": ["human", "user"], "assistant": ["gpt", "assistant"],
                              "system": ["system"], "tool": ["tool"]}
    assert (entry["roles_to_train"], entry["train_on_eos"], entry["train_on_eot"],
            entry["drop_system_message"]) == (["assistant"], "turn", "turn", False)


def test_chat_options_reach_the_run_as_axolotl_means_them(write_spec, tmp_path):
    out = tmp_path / "chat"
    result = compile_spec(write_spec(CHAT + "    message_field_role: from\n"
                                     "    message_field_content: value\n"
                                     "    roles_to_train: [gpt, human]\n"
                                     "    train_on_eos: all\n"
                                     "    drop_system_message: true\n", "chat.yaml"), out)
    run = yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())
    [entry] = run["data"]["datasets"]
    assert entry["message_property_mappings"] == {"role": "from", "content": "value"}
    assert entry["roles_to_train"] == ["assistant", "user"]  # through roles, as in Axolotl
    assert (entry["train_on_eos"], entry["train_on_eot"]) == ("all", "all")  # eot follows
    assert entry["drop_system_message"] is True
    assert run["trainer"]["config"]["assistant_only_loss"] is True


@pytest.mark.parametrize("extra,code,where,words", [
    ("    field_thinking: reasoning\n", "E107", "6:5",
     "'datasets[0].field_thinking' is an Axolotl key peftc does not support yet"),
    ("    trust_remote_code: true\n", "E105", "6:5",
     "'datasets[0].trust_remote_code' is an Axolotl key peftc does not take"),
    ("gradient_checkpointing: offload_disk\n", "E107", "6:25",
     "'gradient_checkpointing: offload_disk' is an Axolotl value peftc does not support yet"),
])
def test_entry_keys_and_values_have_their_way(write_spec, extra, code, where, words):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(CHAT + extra))
    [d] = exc.value.diagnostics
    assert (d.code, f"{d.line}:{d.col}", d.message) == (code, where, words)


def test_false_entry_switch_and_dpo_type(write_spec):
    compiled = resolve_spec(write_spec(CHAT + "    drop_system_message: false\n"))
    assert not compiled.warnings
    compiled = resolve_spec(write_spec(CHAT.replace("type: chat_template", "type: chatml.intel")
                                       + "rl: dpo\n", "dpo.yaml"))
    assert compiled.runs[0].values["datasets"][0]["type"] == "chatml.intel"


@pytest.mark.parametrize("given,taken,warned", [
    ("chat_template", "chat_template.default", False),  # a bare name is <name>.default
    ("chatml.argilla", "chatml.default", True),  # the name Axolotl removed
])
def test_dpo_type_names_resolve_as_in_axolotl(write_spec, given, taken, warned):
    compiled = resolve_spec(write_spec(CHAT.replace("type: chat_template", f"type: {given}")
                                       + "rl: dpo\n", "dpo.yaml"))
    assert compiled.runs[0].values["datasets"][0]["type"] == taken
    renamed = [d for d in compiled.warnings if d.code == "W205"]
    assert bool(renamed) == warned
    if warned:
        assert (renamed[0].line, renamed[0].hint) == (5, "write chatml.default: Axolotl "
                                                          "renamed it (#2303)")


def test_a_dpo_type_on_an_sft_run_is_refused(write_spec):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(CHAT.replace("type: chat_template", "type: chatml.intel")))
    assert exc.value.diagnostics[0].code == "E212"


def test_a_speed_only_attention_value_is_said_and_unset(write_spec, tmp_path):
    compiled = resolve_spec(write_spec(MINIMAL + "attn_implementation: xformers\n"))
    assert [(d.code, d.line) for d in compiled.warnings] == [("W204", 10)]
    assert "attn_implementation" not in compiled.runs[0].values or \
        compiled.runs[0].values["attn_implementation"] != "xformers"


def test_batch_size_sets_accumulation_as_in_axolotl(write_spec, tmp_path):
    compiled = resolve_spec(write_spec(MINIMAL + "batch_size: 9\n"))  # micro_batch_size 2
    run = compiled.runs[0]
    assert run.values["gradient_accumulation_steps"] == 4
    assert run.source("gradient_accumulation_steps").label == "derived: 9 // 2"
    for extra, words in (("gradient_accumulation_steps: 2\n", "set only one of gradient_acc"),
                         ("global_batch_size: 8\n", "set only one of batch_size"),
                         ("micro_batch_size: 4\n", "smaller than micro_batch_size 4")):
        spec = MINIMAL.replace("micro_batch_size: 2\n", "") + "batch_size: 3\n" + extra
        if "micro" not in extra:
            spec += "micro_batch_size: 2\n"
        with pytest.raises(PeftcError) as exc:
            resolve_spec(write_spec(spec, "bad.yaml"))
        [d] = exc.value.diagnostics
        assert d.code == "E209" and words in d.message and d.line == MINIMAL.count("\n") - 1


def test_axolotls_peft_block_is_loftq_init(write_spec, tmp_path):
    """llama-2/loftq.yml: `peft: {loftq_config: {loftq_bits: 4}}` is PEFT's LoftQ init."""
    cfg = run_yaml(write_spec, tmp_path, "peft:\n  loftq_config:\n    loftq_bits: 4\n")
    assert cfg["adapter"]["config"]["init_lora_weights"] == "loftq"
    assert cfg["adapter"]["config"]["loftq_config"] == {"loftq_bits": 4, "loftq_iter": 1}


def test_lora_with_load_in_4bit_loads_unquantized_as_axolotl_does(write_spec, tmp_path):
    spec = write_spec(MINIMAL + "load_in_4bit: true\n")
    [w] = [d for d in findings(spec) if d.code == "W207"]
    assert w.line == 10 and "unquantized" in w.message
    assert resolve_spec(spec).runs[0].values["load_in_4bit"] is False
    qlora = write_spec(MINIMAL.replace("adapter: lora", "adapter: qlora") + "load_in_4bit: "
                       "true\n", "q.yaml")
    assert "W207" not in {d.code for d in findings(qlora)}
    assert resolve_spec(qlora).runs[0].values["load_in_4bit"] is True


def test_absent_targets_are_the_familys_and_provenance_says_so(write_spec):
    run = resolve_spec(write_spec(MINIMAL)).runs[0]
    assert run.values["lora_target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"]
    assert run.source("lora_target_modules").label == "derived: llama family projections"


def test_weight_dtype_keys_and_model_config(write_spec, tmp_path):
    cfg = run_yaml(write_spec, tmp_path, "bfloat16: true\nmodel_config:\n  "
                   "output_router_logits: true\n")
    assert cfg["precision"] == {"bf16": "auto", "fp16": "auto", "tf32": "auto",
                                "bfloat16": True, "float16": False}
    assert cfg["model"]["config_overrides"] == {"output_router_logits": True}
    eight = run_yaml(write_spec, tmp_path, "load_in_8bit: true\n", "eight.yaml")
    assert eight["precision"]["float16"] is True  # Axolotl loads 8-bit models in float16


def test_axolotls_relora_keys(write_spec, tmp_path):
    cfg = run_yaml(write_spec, tmp_path, "relora: true\njagged_restart_steps: 150\n"
                   "jagged_restart_warmup_steps: 10\njagged_restart_anneal_steps: false\n"
                   "relora_prune_ratio: 0.8\n")
    assert cfg["adapter"]["relora"] == {"steps": 150, "prune_method": "magnitude",
                                        "prune_ratio": 0.8}
    assert cfg["trainer"]["jagged_lr"] == {"steps": 150, "warmup_steps": 10,
                                           "anneal_steps": 1, "min_lr_scale": 0.001}
    # the old spelling: ReLoRA on, with Axolotl's defaults, and a renamed-key warning
    old = resolve_spec(write_spec(MINIMAL + "relora_steps: 50\n", "old.yaml"))
    assert [d.code for d in old.warnings] == ["W205"]
    assert old.runs[0].values["relora"] is True
    assert old.runs[0].values["jagged_restart_steps"] == 50
    assert old.runs[0].values["relora_prune_method"] == "magnitude"


@pytest.mark.parametrize("extra,words", [
    ("relora: true\n", "needs jagged_restart_steps"),
    ("relora: true\njagged_restart_steps: 9\noptimizer: sgd\n", "has none"),
])
def test_relora_refusals(write_spec, extra, words):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL.replace("adapter: lora\n", "") + extra))
    [d] = exc.value.diagnostics
    assert d.code == "E215" and words in d.message


def test_relora_on_a_quantized_base_compiles(write_spec, tmp_path):
    spec = MINIMAL.replace("adapter: lora\n", "adapter: qlora\n") + (
        "relora: true\njagged_restart_steps: 9\nload_in_4bit: true\n")
    out = tmp_path / "q"
    result = compile_spec(write_spec(spec, "q.yaml"), out)
    run = yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())
    assert run["adapter"]["relora"]["steps"] == 9 and run["quantization"]["load_in_4bit"]


def test_relative_paths_beside_the_spec_then_in_the_working_directory(write_spec, tmp_path,
                                                                      monkeypatch):
    """Axolotl reads relative paths from the working directory; peftc tries the spec's folder
    first, then the working directory, and says where it looked."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "rows.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    monkeypatch.chdir(work)
    spec = MINIMAL.replace("teknium/GPT4-LLM-Cleaned", "data/rows.jsonl")
    out = tmp_path / "out"
    result = compile_spec(write_spec(spec, "cwd.yaml"), out)
    cfg = yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())
    [entry] = cfg["data"]["datasets"]
    assert entry["path"] == str(work / "data" / "rows.jsonl") and entry["builder"] == "json"
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(spec.replace("rows.jsonl", "missing.jsonl"), "missing.yaml"))
    [d] = exc.value.diagnostics
    assert d.code == "E213" and str(work / "data" / "missing.jsonl") in d.message
    assert str(Path(d.file).parent / "data" / "missing.jsonl") in d.message


@pytest.mark.parametrize("template", ["llama3", "gemma3", "mistral_v1", "phi_3", "chatml"])
def test_axolotls_named_templates_reach_the_tokenizer(write_spec, tmp_path, template):
    tok = run_yaml(write_spec, tmp_path, f"chat_template: {template}\n")["tokenizer"]
    assert (tok["chat_template"], tok["chat_template_fallback"]) == (template, None)


def test_fallback_and_jinja_templates(write_spec, tmp_path):
    tok = run_yaml(write_spec, tmp_path, "chat_template: tokenizer_default_fallback_chatml\n",
                   "fallback.yaml")["tokenizer"]
    assert (tok["chat_template"], tok["chat_template_fallback"]) == (None, "chatml")
    text = "{% for m in messages %}{{ m['content'] }}<|end|>{% endfor %}"
    (tmp_path / "t.jinja").write_text(text)
    for n, value in enumerate((f'"{text}"', "t.jinja")):
        tok = run_yaml(write_spec, tmp_path, f"chat_template: jinja\nchat_template_jinja: "
                       f"{value}\n", f"jinja{n}.yaml")["tokenizer"]
        assert tok["chat_template"] == text


@pytest.mark.parametrize("extra,line,words", [
    ("chat_template: llama4\n", 6, "'chat_template: llama4' is an Axolotl value peftc does "
     "not support yet"),
    ("chat_template: tokenizer_default_fallback_llama9\n", 6,
     "chat_template 'tokenizer_default_fallback_llama9' falls back to an unknown template"),
    ("chat_template: jinja\n", 6, "chat_template: jinja needs chat_template_jinja"),
    ("chat_template: jinja\nchat_template_jinja: missing.jinja\n", 7,
     "chat_template_jinja 'missing.jinja' is neither a Jinja template nor a file"),
    ('chat_template: "{% for m in messages %}{{ m.content }"\n', 6,
     "chat_template: the Jinja template does not parse: unexpected '}' (its line 1)"),
    ("chat_template: llama-3\n", 6, "chat_template 'llama-3' is neither a template name"),
    ("    chat_template: llama-3\n", 4, "dataset 'org/sharegpt': chat_template 'llama-3' is "
     "neither a template name"),  # at its entry
    ("    chat_template: tokenizer_default_fallback_chatml\n", 6, "'tokenizer_default_fallback_"
     "chatml': a fallback template per dataset is not supported yet"),
])
def test_bad_chat_templates_are_located_errors(write_spec, extra, line, words):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(CHAT + extra))
    [d] = exc.value.diagnostics
    assert d.line == line and d.message.startswith(words), d.message


@pytest.mark.parametrize("extra,eval_,start,save", [
    ("val_set_size: 0.1\neval_strategy: epoch\n", "epoch", True, "epoch"),  # asked: baseline
    ("val_set_size: 0.1\n", "epoch", False, "epoch"),  # peftc's own: once per epoch
    ("val_set_size: 0.1\neval_strategy: 'no'\nsave_strategy: 'no'\n", "no", False, "no"),
    ("val_set_size: 0.1\nsave_strategy: best\n", "epoch", False, "best"),
])
def test_eval_and_save_strategies(write_spec, tmp_path, extra, eval_, start, save):
    tr = run_yaml(write_spec, tmp_path, extra)["trainer"]["config"]
    assert (tr["eval_strategy"], tr["eval_on_start"], tr["save_strategy"]) == (eval_, start, save)


@pytest.mark.parametrize("extra", ["val_set_size: 0.1\neval_steps: 5\neval_strategy: epoch\n",
                                   "save_steps: 5\nsave_strategy: epoch\n",
                                   "eval_strategy: steps\n"])
def test_strategies_that_disagree(write_spec, extra):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + extra))
    [d] = exc.value.diagnostics
    assert d.code == "E216"  # at the strategy as written, which a derivation then replaced
    lines = (MINIMAL.lstrip("\n") + extra).splitlines()
    assert lines[d.line - 1].startswith(("eval_strategy", "save_strategy")), d


def test_runtime_passthrough_keys(write_spec, tmp_path):
    cfg = run_yaml(write_spec, tmp_path, "dataset_num_proc: 4\nremove_unused_columns: true\n"
                   "resume_from_checkpoint: ckpt/checkpoint-10\n")
    assert cfg["trainer"]["config"]["dataset_num_proc"] == 4
    assert cfg["trainer"]["config"]["remove_unused_columns"] is True
    assert cfg["trainer"]["resume_from_checkpoint"] == str(tmp_path / "ckpt" / "checkpoint-10")


def test_a_value_way_is_not_taken_where_it_is_not_said(write_spec):
    """gradient_checkpointing: offload_disk in a stage is reported, not silently accepted."""
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "stages:\n  sft:\n    gradient_checkpointing: "
                                "offload_disk\n"))
    assert exc.value.diagnostics and all(d.is_error for d in exc.value.diagnostics)


def test_eot_tokens_and_template_variables_reach_the_data_section(write_spec, tmp_path):
    data = run_yaml(write_spec, tmp_path, "eot_tokens: ['<|im_end|>']\n"
                    "chat_template_kwargs: {enable_thinking: false}\n")["data"]
    assert data["eot_tokens"] == ["<|im_end|>"]
    assert data["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_datasets_own_template(write_spec, tmp_path):
    same = resolve_spec(write_spec(CHAT + "    chat_template: tokenizer_default\n"))
    assert "chat_template" not in same.runs[0].values["datasets"][0]  # Axolotl's default
    same = resolve_spec(write_spec(CHAT + "    chat_template: chatml\nchat_template: chatml\n",
                                   "same.yaml"))
    assert "chat_template" not in same.runs[0].values["datasets"][0]  # the run's anyway
    out = tmp_path / "own"
    result = compile_spec(write_spec(CHAT + "    chat_template: llama3\n", "own.yaml"), out)
    run = yaml.safe_load((out / "runs" / result.runs[0].run_id / "run.yaml").read_text())
    entry = run["data"]["datasets"][0]
    assert entry["chat_template"] == "llama3"
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(CHAT + "    chat_template: jinja\n", "bad.yaml"))
    assert exc.value.diagnostics[0].code == "E214"


def test_lint_says_when_roles_to_train_names_a_role_the_rows_never_use(write_spec, tmp_path):
    rows = tmp_path / "talk.jsonl"
    rows.write_text('{"conversations": [{"from": "human", "value": "Hi"}, '
                    '{"from": "gpt", "value": "Hello"}]}\n' * 3)
    spec = (f"base_model: NousResearch/Llama-3.2-1B\nadapter: lora\ndatasets:\n"
            f"  - path: {rows}\n    type: chat_template\n    field_messages: conversations\n"
            f"    message_property_mappings: {{role: from, content: value}}\n")
    resolve_spec(write_spec(spec + "    roles_to_train: [gpt, user]\n"))  # both are used
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(spec + "    roles_to_train: [assistant, tool]\n", "bad.yaml"))
    [d] = exc.value.diagnostics
    assert (d.code, d.line) == ("E217", 4) and "roles_to_train ['tool']" in d.message


def test_tokens_and_special_tokens_reach_the_tokenizer(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "special_tokens:\n  eos_token: <|im_end|>\n"
                   "  additional_special_tokens: [<|im_start|>]\ntokens: [<tool>]\n"
                   "lora_modules_to_save: [embed_tokens, lm_head]\n"
                   "resize_token_embeddings_to_32x: true\n")
    assert run["tokenizer"]["special_tokens"] == {
        "eos_token": "<|im_end|>", "additional_special_tokens": ["<|im_start|>"]}
    assert run["tokenizer"]["tokens"] == ["<tool>"]
    assert run["model"]["resize_to_multiple_of"] == 32
    assert run["adapter"]["config"]["modules_to_save"] == ["embed_tokens", "lm_head"]
    plain = run_yaml(write_spec, tmp_path, "special_tokens:\n", "plain.yaml")  # null: unset
    assert plain["tokenizer"]["special_tokens"] is None
    assert plain["model"]["resize_to_multiple_of"] is None


@pytest.mark.parametrize("extra,words", [
    ("tokens: [<tool>]\n", "lora_modules_to_save lacks embed_tokens, lm_head (the llama "),
    ("tokens: [<tool>]\nlora_modules_to_save: [embed_tokens]\n", "lacks lm_head (the llama"),
    ("tokens: [<tool>]\nmodel_family: gpt_neox\n", "lacks embed_in, lm_head (the gpt_neox "
     "family's"),
    ("tokens: [<tool>]\nadapter: prompt_tuning\n", "need their embeddings trained, which a "
     "'prompt_tuning' adapter cannot do"),
])
def test_new_tokens_need_the_familys_embeddings_trained(write_spec, extra, words):
    text = (MINIMAL.replace("adapter: lora\n", "") if "adapter:" in extra else MINIMAL) + extra
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(text))
    [d] = [d for d in exc.value.diagnostics if d.code == "E218"]
    line = text.lstrip("\n").splitlines().index("tokens: [<tool>]") + 1
    assert words in d.message and d.line == line, (d.line, d.message)


def test_special_tokens_are_checked_against_the_tokenizer_at_run_time(write_spec):
    # whether a special token is new is the tokenizer's to say: nothing to refuse here (E606)
    resolve_spec(write_spec(MINIMAL + "special_tokens:\n  eos_token: <|im_end|>\n"))
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "special_tokens:\n  eos: <|im_end|>\n"))
    assert [d.code for d in exc.value.diagnostics] == ["E100"]


def test_checkpointing_offload_is_axolotls_rewrite(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "gradient_checkpointing: offload\n")
    assert run["model"]["gradient_checkpointing"] is True
    tr = run["trainer"]["config"]
    assert (tr["activation_checkpointing"], tr["activation_offloading"]) == (True, True)
    plain = run_yaml(write_spec, tmp_path, "gradient_checkpointing: true\n", "plain.yaml")
    assert plain["trainer"]["config"]["activation_offloading"] is False


EVALS = "val_set_size: 0.1\neval_steps: 10\n"


@pytest.mark.parametrize("extra,saves,best", [
    # no save key: saves follow the evaluations, so the best one is kept
    (EVALS + "early_stopping_patience: 3\n", ("steps", 10), True),
    (EVALS + "save_steps: 20\nearly_stopping_patience: 3\n", ("steps", 20), True),
    ("val_set_size: 0.1\nearly_stopping_patience: 2\n", ("epoch", None), True),  # per epoch
    (EVALS + "load_best_model_at_end: true\n", ("steps", 10), True),
])
def test_early_stopping_keeps_the_best_evaluation(write_spec, tmp_path, extra, saves, best):
    run = run_yaml(write_spec, tmp_path, extra)
    tr = run["trainer"]["config"]
    assert (tr["save_strategy"], tr["save_steps"]) == saves
    assert (tr["load_best_model_at_end"], tr["metric_for_best_model"]) == (best, "eval_loss")
    assert run["trainer"]["early_stopping_patience"] == (
        int(extra.split("patience: ")[1][0]) if "patience" in extra else None)


@pytest.mark.parametrize("extra,line,words", [
    ("early_stopping_patience: 3\n", 10, "early_stopping_patience compares evaluations, and "
     "this run has none"),
    (EVALS + "save_steps: 15\nearly_stopping_patience: 3\n", 12, "save_steps 15 does not "
     "fall on eval_steps 10"),
    ("save_strategy: best\n", 10, "save_strategy compares evaluations, and this run has none"),
    ("val_set_size: 0.1\nsaves_per_epoch: 4\nload_best_model_at_end: true\n", 11,
     "save_steps 0.25 does not fall on eval_strategy 'epoch'"),
])
def test_saves_that_miss_the_evaluations_are_refused(write_spec, extra, line, words):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + extra))
    [d] = exc.value.diagnostics
    assert (d.code, d.line) == ("E219", line) and words in d.message, d


def test_loss_watchdog_reaches_the_trainer(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "loss_watchdog_threshold: 5.0\n")
    assert run["trainer"]["loss_watchdog"] == {"threshold": 5.0, "patience": 3}  # Axolotl's 3
    assert run_yaml(write_spec, tmp_path, "", "plain.yaml")["trainer"]["loss_watchdog"] is None


def test_unfrozen_parameters_reach_the_adapter_as_axolotls_regexes(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "unfrozen_parameters: ['^model.norm.weight$', "
                   "'layers.1.+.post_attention_layernorm']\n")
    assert run["adapter"]["unfrozen_parameters"] == [
        {"pattern": "^model.norm.weight$", "regex": r"^model\.norm\.weight$"},
        {"pattern": "layers.1.+.post_attention_layernorm",
         "regex": r"layers\.1.+\.post_attention_layernorm"}]


@pytest.mark.parametrize("pattern,code,words", [
    ("'^model.embed_tokens.weight$[:32000]'", "E107", "a row range ([start:end]) is not "
     "supported yet"),
    ("'^model.layers.(0'", "E220", "is not a regular expression: missing ), unterminated"),
])
def test_unfrozen_parameters_that_cannot_be_taken(write_spec, pattern, code, words):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + f"unfrozen_parameters: [{pattern}]\n"))
    [d] = exc.value.diagnostics
    assert d.code == code and words in d.message and d.line == 10, d


def test_lora_model_dir_must_be_a_lora_adapter(write_spec, tmp_path):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "lora_model_dir: ./trained\n"))
    [d] = exc.value.diagnostics
    assert d.code == "E221" and d.line == 10
    assert d.message.startswith("lora_model_dir: no PEFT adapter (adapter_config.json) at ")
    ia3 = tmp_path / "ia3"
    ia3.mkdir()
    (ia3 / "adapter_config.json").write_text('{"peft_type": "IA3"}')
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + f"lora_model_dir: {ia3}\n"))
    assert exc.value.diagnostics[0].message == (
        "lora_model_dir holds an adapter of type IA3, not a LoRA one")
    (ia3 / "adapter_config.json").write_text('["not", "a", "mapping"]')  # was an internal error
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + f"lora_model_dir: {ia3}\n"))
    assert exc.value.diagnostics[0].message == (
        "lora_model_dir holds an adapter of type None, not a LoRA one")


def test_dataset_prepared_path_is_beside_the_spec(write_spec, tmp_path):
    run = run_yaml(write_spec, tmp_path, "dataset_prepared_path: last_run_prepared\n")
    assert run["data"]["prepared_path"] == str(tmp_path / "last_run_prepared")
    assert run_yaml(write_spec, tmp_path, "", "plain.yaml")["data"]["prepared_path"] is None


def test_saves_on_evaluations_given_as_shares(write_spec, tmp_path):
    # 0.3 / 0.1 is 2.9999999999999996 in floating point: still every third evaluation
    tr = run_yaml(write_spec, tmp_path, "val_set_size: 0.1\neval_steps: 0.1\nsave_steps: 0.3\n"
                  "early_stopping_patience: 2\n")["trainer"]["config"]
    assert (tr["save_steps"], tr["eval_steps"], tr["load_best_model_at_end"]) == (0.3, 0.1, True)


def test_wandb_keys_reach_the_report_section_as_axolotl_reads_them(write_spec, tmp_path):
    extra = ("wandb_project: p\nwandb_entity: team\nwandb_watch: gradients\n"
             "wandb_log_model: false\nwandb_mode: offline\n")
    assert not resolve_spec(write_spec(MINIMAL + extra, "warn.yaml")).warnings  # no W210
    run = run_yaml(write_spec, tmp_path, extra)
    name = run["run_id"]  # unset wandb_name: the run's id (Axolotl leaves W&B to pick one)
    assert run["report"]["wandb"] == {"project": "p", "entity": "team", "name": name,
                                      "run_id": None, "watch": "gradients",
                                      "log_model": "false", "mode": "offline"}
    assert run["trainer"]["config"]["report_to"] == ["wandb"]
    assert run["trainer"]["config"]["run_name"] == name
    # wandb_run_id names the run when wandb_name does not; use_wandb alone reports too
    run = run_yaml(write_spec, tmp_path, "use_wandb: true\nwandb_run_id: abc123\n", "id.yaml")
    assert (run["report"]["wandb"]["name"], run["report"]["wandb"]["run_id"]) == ("abc123",) * 2
    assert run["trainer"]["config"]["run_name"] == "abc123"
    # empty keys, as Axolotl's examples write them, report nothing
    run = run_yaml(write_spec, tmp_path, "wandb_project:\nwandb_entity:\nwandb_watch:\n",
                   "none.yaml")
    assert run["report"]["wandb"] is None and run["trainer"]["config"]["report_to"] == []


def test_wandb_project_reports_despite_use_wandb_false_and_says_so(write_spec, tmp_path):
    compiled = compile_spec(write_spec(MINIMAL + "use_wandb: false\nwandb_project: p\n"),
                            tmp_path / "out")
    [w] = [d for d in compiled.warnings if d.code == "W210"]
    assert w.line == MINIMAL.count("\n") and "as in Axolotl" in w.message


def test_one_wandb_run_id_for_several_runs_is_refused(write_spec):
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(MINIMAL + "wandb_run_id: abc\nsweep: {lora_r: [8, 16]}\n"))
    [d] = exc.value.diagnostics
    assert (d.code, d.line) == ("E222", MINIMAL.count("\n"))
    assert "shared by 2 runs" in d.message


def test_data_processing_keys_reach_the_data_section_with_axolotls_defaults(write_spec,
                                                                             tmp_path):
    data = run_yaml(write_spec, tmp_path, "")["data"]
    assert (data["shuffle"], data["deduplicate"], data["excess_length"]) == (True, False, "drop")
    data = run_yaml(write_spec, tmp_path, "shuffle_merged_datasets: false\n"
                    "dataset_exact_deduplication: true\nexcess_length_strategy: truncate\n",
                    "set.yaml")["data"]
    assert (data["shuffle"], data["deduplicate"], data["excess_length"]) == (
        False, True, "truncate")


def test_added_tokens_overrides_reach_the_tokenizer_and_locate_runtime_errors(write_spec,
                                                                               tmp_path):
    from peftc.runner import spec_location

    spec = write_spec(MINIMAL + "added_tokens_overrides:\n  128011: <tool>\n  '128012': <call>\n")
    result = compile_spec(spec, tmp_path / "out")
    run_dir = tmp_path / "out" / "runs" / result.runs[0].run_id
    run = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert run["tokenizer"]["added_tokens_overrides"] == {128011: "<tool>", 128012: "<call>"}
    line = MINIMAL.count("\n") + 1
    field = "tokenizer.added_tokens_overrides"  # the run.yaml field a runtime error names
    assert spec_location(run_dir, f"{field}.128012") == (str(spec), line + 1, 13)
    assert spec_location(run_dir, field) == (str(spec), line, 11)


def test_completion_field_is_axolotls_name_of_the_text_column(write_spec, tmp_path):
    """Axolotl's completion entries name their text column `field`: taken as field_text, and
    the first rows are checked against it."""
    (tmp_path / "notes.jsonl").write_text('{"body": "some text"}\n')
    entry = "  - path: notes.jsonl\n    type: completion\n"
    spec = "base_model: peftc:tiny-llama\nadapter: lora\ndatasets:\n" + entry
    out = tmp_path / "out"
    compile_spec(write_spec(spec + "    field: body\n", "field.yaml"), out)
    run = yaml.safe_load(next((out / "runs").glob("*/run.yaml")).read_text())
    assert run["data"]["datasets"][0]["fields"] == {"text": "body"}
    assert "E225" not in {d.code for d in findings(tmp_path / "field.yaml")}
    [d] = [d for d in findings(write_spec(spec, "none.yaml")) if d.code == "E225"]
    assert "text" in d.message and d.line == 4  # without it: the text column, at the entry
    with pytest.raises(PeftcError) as exc:
        resolve_spec(write_spec(spec + "    field: body\n    field_text: body\n", "both.yaml"))
    [d] = exc.value.diagnostics
    assert (d.code, d.line, d.col) == ("E106", 6, 5)
    assert d.message == "'field' and 'field_text' are the same setting; keep one"
