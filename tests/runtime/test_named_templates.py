"""Axolotl's named chat templates: each renders a known conversation as its model family
does, and trains its answers and their end of turn."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from peftc.runtime import chat
from peftc.runtime.model import load_tokenizer
from peftc.runtime.tiny_model import ASSETS
from peftc.vocab.chat_templates import NAMED, template_text

TALK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Yo."}, {"role": "user", "content": "Ok?"},
        {"role": "assistant", "content": "Fine."}]
NO_SYSTEM = {"gemma"}  # Gemma 1 refuses a system turn
# the embedded tokenizer's BOS is <s> and its EOS </s>
RENDERED = {
    "chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
              "<|im_start|>assistant\nYo.<|im_end|>\n<|im_start|>user\nOk?<|im_end|>\n"
              "<|im_start|>assistant\nFine.<|im_end|>\n",
    "mistral_v1": "<s> [INST] Be brief.\n\nHi? [/INST] Yo.</s> [INST] Ok? [/INST] Fine.</s>",
    "mistral_v2v3": "<s>[INST] Hi?[/INST] Yo.</s>[INST] Be brief.\n\nOk?[/INST] Fine.</s>",
    "llama3": "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nYo.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nOk?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nFine.<|eot_id|>",
    "gemma": "<s><start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model\nYo.<end_of_turn>\n"
             "<start_of_turn>user\nOk?<end_of_turn>\n<start_of_turn>model\nFine.<end_of_turn>\n",
    "gemma3": "<s><start_of_turn>user\nBe brief.\n\nHi?<end_of_turn>\n<start_of_turn>model\nYo."
              "<end_of_turn>\n<start_of_turn>user\nOk?<end_of_turn>\n<start_of_turn>model\n"
              "Fine.<end_of_turn>\n",
    "gemma4": "<s><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi?<turn|>\n<|turn>model\nYo."
              "<turn|>\n<|turn>user\nOk?<turn|>\n<|turn>model\nFine.<turn|>\n",
    "phi_3": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi?<|end|>\n<|assistant|>\nYo.<|end|>\n"
             "<|user|>\nOk?<|end|>\n<|assistant|>\nFine.<|end|>\n</s>",
    "phi_35": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi?<|end|>\n<|assistant|>\nYo.<|end|>\n"
              "<|user|>\nOk?<|end|>\n<|assistant|>\nFine.<|end|>\n</s>",
    "qwen_25": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
               "<|im_start|>assistant\nYo.<|im_end|>\n<|im_start|>user\nOk?<|im_end|>\n"
               "<|im_start|>assistant\nFine.<|im_end|>\n",
    "qwen3": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
             "<|im_start|>assistant\nYo.<|im_end|>\n<|im_start|>user\nOk?<|im_end|>\n"
             "<|im_start|>assistant\n<think>\n\n</think>\n\nFine.<|im_end|>\n",
    "deepseek_v3": "<s>Be brief.<｜User｜>Hi?<｜Assistant｜>Yo.<｜end▁of▁sentence｜><｜User｜>Ok?"
                   "<｜Assistant｜>Fine.<｜end▁of▁sentence｜>",
    "cohere": "<s><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|>"
              "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi?<|END_OF_TURN_TOKEN|>"
              "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Yo.<|END_OF_TURN_TOKEN|>"
              "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>Ok?<|END_OF_TURN_TOKEN|>"
              "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Fine.<|END_OF_TURN_TOKEN|>",
}
END = {"chatml": "<|im_end|>", "mistral_v1": "</s>", "mistral_v2v3": "</s>",
       "llama3": "<|eot_id|>", "gemma": "<end_of_turn>", "gemma3": "<end_of_turn>",
       "gemma4": "<turn|>", "phi_3": "<|end|>", "phi_35": "<|end|>", "qwen_25": "<|im_end|>",
       "qwen3": "<|im_end|>",
       "deepseek_v3": "<｜end▁of▁sentence｜>", "cohere": "<|END_OF_TURN_TOKEN|>"}


def test_every_name_is_tested():
    assert set(RENDERED) == set(NAMED) == set(END)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_a_named_template_renders_its_family_format(name):
    tok = load_tokenizer({"name_or_path": "peftc:tiny-llama", "chat_template": name})
    talk = TALK[1:] if name in NO_SYSTEM else TALK
    assert tok.apply_chat_template(talk, tokenize=False) == RENDERED[name]


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_a_named_template_trains_the_answers_and_their_end_of_turn(name):
    tok = AutoTokenizer.from_pretrained(str(ASSETS))
    tok.chat_template = template_text(name)
    talk = TALK[1:] if name in NO_SYSTEM else TALK
    middle, last = chat.find_terminators(tok)
    row = chat.tokenize_conversation(talk, tok, chat.Masking("rendered", "test", middle, last))
    trained = tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"],
                                            strict=True) if m])
    space = " " if name.startswith("mistral") else ""  # ' ' + answer is one token
    eos = "</s>" if name.startswith("phi") else ""  # Phi-3 ends the chat with the EOS
    assert trained == f"{space}Yo.{END[name]}{space}Fine.{END[name]}{eos}"


def test_the_fallback_is_used_only_without_a_template(tmp_path, capsys):
    section = {"name_or_path": "peftc:tiny-llama", "chat_template_fallback": "llama3"}
    own = load_tokenizer(section)  # the embedded tokenizer has a template: it is kept
    assert "generation" in own.chat_template and not capsys.readouterr().err
    bare = AutoTokenizer.from_pretrained(str(ASSETS))
    bare.chat_template = None
    bare.save_pretrained(tmp_path)
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    tok = load_tokenizer({**section, "name_or_path": str(tmp_path)})
    assert tok.chat_template == template_text("llama3")
    assert "the tokenizer has no chat template: llama3 is used" in capsys.readouterr().err
