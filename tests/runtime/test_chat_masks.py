"""`type: chat_template` masks with the templates models ship: exactly the assistant content
and the template's end-of-turn token are trained, whatever the tokenizer's EOS is.

Templates are written in four styles without generation markers (chat_templates.py), and
TRL's copies of the original templates of real models (`trl/chat_templates/*.jinja`) are used
as they ship. Each tokenizer is the embedded one with the style's special tokens added, as
the real models have them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trl
from chat_templates import STYLES
from conftest import DATA, dataset_entry, make_run, read_run
from helpers import metrics
from transformers import AutoTokenizer

from peftc.runtime import chat
from peftc.runtime.errors import RuntimeConfigError
from peftc.runtime.run import execute
from peftc.runtime.tiny_model import ASSETS
from peftc.vocab.keys import TRAIN_ON_EOS

CONVERSATION = json.loads((DATA / "chat.jsonl").read_text().splitlines()[0])["messages"]
A1, A2 = "WINTER", "The capital of Poland is Warsaw."
# what each style trains of CONVERSATION (system, user, assistant, user, assistant)
TERMINATORS = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "mistral": "</s>",
               "gemma": "<end_of_turn>"}
# with train_on_eos: all, the end-of-turn tokens of the turns that have one in the template
ALL_TURNS = {"chatml": 5, "llama3": 5, "mistral": 2, "gemma": 4}
SHIPPED = Path(trl.__file__).parent / "chat_templates"


def tokenizer(template: str, special: list[str] = ()):
    tok = AutoTokenizer.from_pretrained(str(ASSETS))
    tok.chat_template = template
    tok.add_special_tokens({"additional_special_tokens": list(special)})
    return tok


def trained(tok, row: dict) -> str:
    mask = row.get("assistant_masks") or [int(x != -100) for x in row["labels"]]
    return tok.decode([t for t, m in zip(row["input_ids"], mask, strict=True) if m])


def expected(style: str, train_on_eos: str) -> str:
    t = TERMINATORS[style]
    space = " " if style == "mistral" else ""  # Mistral writes ' ' + content: one token
    a1, a2 = space + A1, space + A2
    if train_on_eos == "all":
        before = ALL_TURNS[style] - 2  # the system and user turns' terminators
        first_user = before // 2 + before % 2
        return t * first_user + a1 + t + t * (before - first_user) + a2 + t
    return {"turn": a1 + t + a2 + t, "last": a1 + a2 + t, "none": a1 + a2}[train_on_eos]


@pytest.mark.parametrize("train_on_eos", TRAIN_ON_EOS)
@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_style_trains_the_assistant_content_and_its_end_of_turn(style, train_on_eos):
    tok = tokenizer(*STYLES[style])
    masking = chat.masking(tok)
    assert masking.route == "rendered" and masking.text == TERMINATORS[style]
    row = chat.tokenize_conversation(CONVERSATION, tok, masking, train_on_eos=train_on_eos)
    assert not row["peftc_unlocated"]
    assert trained(tok, row) == expected(style, train_on_eos)


def test_chatml_on_the_embedded_tokenizer_trains_im_end_though_its_eos_is_s(capsys):
    tok = tokenizer(STYLES["chatml"][0])  # the embedded tokenizer as it ships
    assert tok.eos_token == "</s>"
    masking = chat.masking(tok)
    assert masking.terminator == masking.last_terminator == (tok.convert_tokens_to_ids(
        "<|im_end|>"),)
    row = chat.tokenize_conversation(CONVERSATION, tok, masking)
    ids = [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m]
    assert ids.count(tok.convert_tokens_to_ids("<|im_end|>")) == 2  # after each answer
    assert "end of turn '<|im_end|>'" in capsys.readouterr().err


# TRL's copies of the templates real models ship, the special tokens each one writes
REAL = {
    "llama3": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "llama3_1": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                 "<|eot_id|>"],
    "llama3_2": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                 "<|eot_id|>"],
    "qwen2_5": ["<|im_start|>", "<|im_end|>"],
    "qwen3": ["<|im_start|>", "<|im_end|>"],
    "gemma": ["<start_of_turn>", "<end_of_turn>"],
    "gemma3": ["<start_of_turn>", "<end_of_turn>"],
    "phi3": ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
    "deepseek_r1_distill": ["<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"],
    "deepseekv3": ["<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"],
    "cohere": ["<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|USER_TOKEN|>",
               "<|CHATBOT_TOKEN|>", "<|SYSTEM_TOKEN|>"],
    "gemma4": ["<|turn>", "<turn|>"],
}
REAL_END = {"llama3": "<|eot_id|>", "llama3_1": "<|eot_id|>", "llama3_2": "<|eot_id|>",
            "qwen2_5": "<|im_end|>", "qwen3": "<|im_end|>", "gemma": "<end_of_turn>",
            "gemma3": "<end_of_turn>", "phi3": "<|end|>",
            "deepseek_r1_distill": "<｜end▁of▁sentence｜>",
            "deepseekv3": "<｜end▁of▁sentence｜>", "cohere": "<|END_OF_TURN_TOKEN|>",
            "gemma4": "<turn|>"}
# the originals TRL keeps no training copy of: peftc masks them itself
NO_TRL_COPY = {"llama3_1", "llama3_2", "gemma4"}
SHORT = [{"role": "user", "content": "What is 2+2?"},
         {"role": "assistant", "content": "It is 4."},
         {"role": "user", "content": "And 3+3?"},
         {"role": "assistant", "content": "Six, of course."}]


def _real(name: str):
    return tokenizer((SHIPPED / f"{name}.jinja").read_text(), REAL[name])


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_rendered_masks_of_real_templates_are_exact(name):
    tok = _real(name)
    middle, last = chat.find_terminators(tok)
    masking = chat.Masking("rendered", "test", middle, last)
    row = chat.tokenize_conversation(SHORT, tok, masking)
    end = REAL_END[name]
    # Phi-3 ends the chat with the EOS too: train_on_eos trains it, not the newline before
    last_end = end + ("</s>" if name == "phi3" else "")
    assert trained(tok, row) == f"It is 4.{end}Six, of course.{last_end}"


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_templates_take_trl_route_when_trl_can_mask_them(name):
    tok = _real(name)
    masking = chat.masking(tok)
    assert masking.route == ("rendered" if name in NO_TRL_COPY else "trl")
    if masking.route == "trl":  # TRL's training copy decides; its mask holds the same tokens
        out = tok.apply_chat_template(
            SHORT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
            chat_template=trl.chat_template_utils.get_training_chat_template(tok))
        text = trained(tok, out)
        assert "It is 4." in text and "Six, of course." in text
        assert text.count(REAL_END[name]) == 2 and "2+2" not in text and "3+3" not in text


def test_a_turn_the_template_rewrites_fails_the_row_not_the_mask():
    # Qwen3's template drops the reasoning of earlier assistant turns: that turn's content is
    # not what the row says, so no span is right for it
    tok = _real("qwen3")
    middle, last = chat.find_terminators(tok)
    masking = chat.Masking("rendered", "test", middle, last)
    thinking = [{**SHORT[0]}, {"role": "assistant", "content": "<think>2+2</think>It is 4."},
                *SHORT[2:]]
    row = chat.tokenize_conversation(thinking, tok, masking)
    assert row["peftc_unlocated"] and not any(row["assistant_masks"])
    assert not chat.tokenize_conversation(SHORT, tok, masking)["peftc_unlocated"]


def test_a_template_that_never_ends_a_turn_is_refused():
    endless = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + ' ' }}{% endfor %}"
    with pytest.raises(RuntimeConfigError, match="could not learn to stop"):
        chat.masking(tokenizer(endless))


# each run's template, and the style whose trained text it gives
CASES = {**{style: (template, style) for style, (template, _) in STYLES.items()},
         "llama3_2 as shipped": ((SHIPPED / "llama3_2.jinja").read_text(), "llama3")}


@pytest.mark.train
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_sft_run_completes_with_each_template(tmp_path, case):
    template, style = CASES[case]
    run_dir = make_run(
        tmp_path, tokenizer={"chat_template": template},
        data={"datasets": [dataset_entry("chat.jsonl", "chat_template")]},
        trainer={"config": {"max_steps": 2, "assistant_only_loss": True, "max_length": 512,
                            "completion_only_loss": None}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    assert metrics(read_run(run_dir))["chat_masking"] == {
        "route": "rendered", "reason": "the template has no generation markers",
        "end_of_turn": TERMINATORS[style]}
    trainer = outcome.trainer
    texts = [trained(trainer.processing_class, row) for row in trainer.train_dataset]
    assert all(t.count(TERMINATORS[style]) == 2 and "helpful" not in t for t in texts)
    assert expected(style, "turn") in texts  # the first row of chat.jsonl, exactly


def test_train_on_eos_and_train_on_eot_are_separate():
    # Phi-3 ends a turn with <|end|> and the conversation with the EOS </s> after it
    tok = _real("phi3")
    middle, last = chat.find_terminators(tok)
    masking = chat.Masking("rendered", "test", middle, last)

    def text(**options):
        return trained(tok, chat.tokenize_conversation(SHORT, tok, masking, **options))

    assert text(train_on_eos="none", train_on_eot="turn") == \
        "It is 4.<|end|>Six, of course.<|end|>"
    assert text(train_on_eos="turn", train_on_eot="none") == "It is 4.Six, of course.</s>"
    assert text(train_on_eos="none") == "It is 4.Six, of course."  # eot follows eos


@pytest.mark.parametrize("options,words", [
    ({"roles_to_train": ["user"]},
     "Write the word in capital letters.\nwinter<|im_end|>What is the capital of Poland?"
     "<|im_end|>"),
    ({"train_on_inputs": True},  # every turn's content and end; never a role header
     "You are a helpful assistant.<|im_end|>Write the word in capital letters.\nwinter"
     "<|im_end|>WINTER<|im_end|>What is the capital of Poland?<|im_end|>The capital of "
     "Poland is Warsaw.<|im_end|>"),
])
def test_roles_to_train_and_train_on_inputs(options, words):
    tok = tokenizer(*STYLES["chatml"])
    row = chat.tokenize_conversation(CONVERSATION, tok, chat.masking(tok), **options)
    assert trained(tok, row) == words


def test_options_trl_cannot_honour_take_peftcs_masks():
    entry = {"type": "chat_template", "roles_to_train": ["assistant"], "train_on_eos": "turn",
             "train_on_eot": "turn"}
    data = {"datasets": [entry], "train_on_inputs": False}
    assert chat.options_need_own(data) is None
    assert chat.options_need_own({**data, "train_on_inputs": True}) == \
        "train_on_inputs trains every turn's content"
    assert chat.options_need_own({**data, "datasets": [{**entry, "train_on_eot": "all"}]}) \
        == "train_on_eot: all"
    assert chat.options_need_own({**data, "eot_tokens": ["<|im_end|>"]}) == "eot_tokens"
    tok = AutoTokenizer.from_pretrained(str(ASSETS))  # its template has generation markers
    assert chat.masking(tok).route == "trl"
    assert chat.masking(tok, "train_on_eot: all").route == "rendered"


@pytest.mark.train
def test_train_on_inputs_with_a_marked_template_trains_no_role_header(tmp_path):
    run_dir = make_run(
        tmp_path, data={"datasets": [dataset_entry("chat.jsonl", "chat_template")],
                        "train_on_inputs": True},
        trainer={"config": {"max_steps": 2, "assistant_only_loss": True, "max_length": 256,
                            "completion_only_loss": False}})
    outcome = execute(run_dir)
    assert outcome.exit_code == 0
    masking = metrics(read_run(run_dir))["chat_masking"]
    assert masking["route"] == "rendered" and "train_on_inputs" in masking["reason"]
    texts = [trained(outcome.trainer.processing_class, r) for r in outcome.trainer.train_dataset]
    assert all("You are a helpful assistant." in t and "<|im_start|>" not in t for t in texts)


@pytest.mark.train
@pytest.mark.parametrize("case", sorted(CASES))
def test_peftc_run_of_a_spec_completes_with_each_template(tmp_path, case):
    import subprocess
    import sys

    (tmp_path / "template.jinja").write_text(CASES[case][0])
    (tmp_path / "spec.yaml").write_text(
        f"base_model: peftc:tiny-llama\nprofile: none\nmax_steps: 2\nsequence_len: 512\n"
        f"micro_batch_size: 2\nchat_template: jinja\nchat_template_jinja: template.jinja\n"
        f"datasets: [{{path: {DATA / 'chat.jsonl'}, type: chat_template}}]\n")
    proc = subprocess.run([sys.executable, "-m", "peftc", "run", "spec.yaml", "-o", "out"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_dir] = (tmp_path / "out" / "runs").iterdir()
    assert metrics(read_run(run_dir))["chat_masking"]["route"] == "rendered"


def test_the_users_eot_tokens_win_and_are_checked_as_axolotl_checks_them(capsys):
    tok = _real("llama3_2")
    masking = chat.masking(tok, "eot_tokens", eot_tokens=["<|eot_id|>", "<|im_end|>"])
    assert masking.eot == (tok.convert_tokens_to_ids("<|eot_id|>"),)
    assert "never writes '<|im_end|>'; it is ignored" in capsys.readouterr().err
    row = chat.tokenize_conversation(SHORT, tok, masking)
    assert trained(tok, row) == "It is 4.<|eot_id|>Six, of course.<|eot_id|>"
    with pytest.raises(RuntimeConfigError, match="'<eot>' is 4 tokens of this tokenizer"):
        chat.masking(tok, "eot_tokens", eot_tokens=["<eot>"])


def test_chat_template_kwargs_reach_the_template():
    template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
                "{% if shout %}!{% endif %}<|im_end|>\n{% endfor %}")
    tok = tokenizer(template, ["<|im_end|>"])
    masking = chat.masking(tok, "chat_template_kwargs", kwargs={"shout": True})
    row = chat.tokenize_conversation(SHORT, tok, masking)
    assert tok.decode(row["input_ids"]).startswith("user: What is 2+2?!<|im_end|>")
    # ': ' + content: the space is one token with the first word
    assert trained(tok, row) == " It is 4.!<|im_end|> Six, of course.!<|im_end|>"


def test_a_turns_own_training_flag_and_the_tools_column(tmp_path):
    from peftc.runtime.data import load_data

    rows = tmp_path / "rows.jsonl"
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]
    rows.write_text(json.dumps({"tools": tools, "messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "Five.", "train": False},  # a bad answer, kept
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "Four."}]}) + "\n")
    template = ("{% if tools %}tools: {{ tools | length }}\n{% endif %}"
                + STYLES["chatml"][0])
    tok = tokenizer(template, STYLES["chatml"][1])
    entry = {"path": str(rows), "type": "chat_template", "split": "train", "builder": "json",
             "message_field_training": "train", "roles_to_train": ["assistant"]}
    data = {"datasets": [entry], "val_set_size": 0, "train_on_inputs": False}
    masking = chat.masking(tok, chat.options_need_own(data))
    assert masking.route == "rendered" and "message_field_training" in masking.reason
    [row] = load_data(data, "sft", tok, masking)[0]
    assert tok.decode(row["input_ids"]).startswith("tools: 1\n<|im_start|>user")
    assert trained(tok, row) == "Four.<|im_end|>"


def test_a_dataset_with_its_own_template_is_rendered_with_it(tmp_path):
    from peftc.runtime.data import load_data

    tok = tokenizer(STYLES["chatml"][0], STYLES["chatml"][1] + STYLES["llama3"][1])
    chatml = dataset_entry("chat.jsonl", "chat_template", split="train[:1]")
    llama3 = {**chatml, "chat_template": "llama3"}
    data = {"datasets": [chatml, llama3], "val_set_size": 0, "train_on_inputs": False}
    masking = chat.masking(tok, chat.options_need_own(data))
    assert masking.reason == "a dataset has a chat template of its own"
    first, second = load_data(data, "sft", tok, masking)[0]
    assert trained(tok, first) == f"{A1}<|im_end|>{A2}<|im_end|>"
    assert trained(tok, second) == f"{A1}<|eot_id|>{A2}<|eot_id|>"
    assert "<|start_header_id|>" in tok.decode(second["input_ids"])


def test_an_empty_turn_is_skipped_not_the_row():
    tok = tokenizer(*STYLES["chatml"])
    talk = [SHORT[0], {"role": "assistant", "content": ""}, *SHORT[2:]]
    row = chat.tokenize_conversation(talk, tok, chat.masking(tok))
    assert not row["peftc_unlocated"]
    assert trained(tok, row) == "Six, of course.<|im_end|>"
