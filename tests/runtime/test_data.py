"""Formatters on the small task-shaped files: exact strings, and TRL's formats."""

from __future__ import annotations

import json

import pytest
from conftest import dataset_entry

from peftc.runtime.data import load_arguments, load_data
from peftc.runtime.errors import RuntimeConfigError


def data_section(*entries, **extra):
    section = {"datasets": list(entries), "val_set_size": 0.0, "shuffle_seed": 42,
               "shuffle": True, "deduplicate": False, "train_on_inputs": False,
               "max_prompt_length": None}
    section.update(extra)
    return section


def rows(entry, kind="sft", tokenizer=None, **extra):
    train, _ = load_data(data_section(entry, **extra), kind, tokenizer)
    return list(train)


def test_metamath_exact():
    first = rows(dataset_entry("metamathqa_sample.jsonl", "metamath"))[0]
    assert first == {
        "prompt": "### Instruction:\nTom has 5 boxes with 9 pens each. How many pens does he "
                  "have?\n\n### Response:\n",
        "completion": "He has 5 * 9 = 45 pens.\nThe answer is: 45",
    }


def test_magicoder_exact():
    first = rows(dataset_entry("magicoder_sample.jsonl", "magicoder"))[0]
    assert first == {
        "prompt": "### Instruction:\nWrite a Python function that returns the square of x.\n\n"
                  "### Response:\n",
        "completion": "```python\ndef square(x):\n    return x * x\n```",
    }


def test_alpaca_task_uses_text_when_present_else_fields():
    out = rows(dataset_entry("alpaca_task_sample.jsonl", "alpaca_plain"))
    assert out[0] == {
        "prompt": "### Instruction:\nAdd the two numbers.\n\n### Input:\n8 and 18\n\n"
                  "### Response:\n",
        "completion": "26",
    }
    assert out[1] == {
        "prompt": "",
        "completion": "### Instruction:\nGive the opposite of the word.\n\n### Input:\nopen\n\n"
                      "### Response:\nclosed",
    }


def test_alpaca_is_axolotls_instruct_prompt_with_its_system_sentence():
    out = rows(dataset_entry("alpaca_task_sample.jsonl", "alpaca"))
    # Axolotl's alpaca ignores the text column; the input variant has its own sentence
    assert out[1] == {
        "prompt": "Below is an instruction that describes a task, paired with an input that "
                  "provides further context. Write a response that appropriately completes the "
                  "request.\n\n### Instruction:\nGive the opposite of the word.\n\n"
                  "### Input:\nopen\n\n### Response:\n",
        "completion": "closed",
    }
    row = next(r for r in rows(dataset_entry("alpaca.jsonl", "alpaca"))
               if "### Instruction:\nWhat is the capital" in r["prompt"])
    assert row["prompt"].startswith("Below is an instruction that describes a task. Write a "
                                    "response that appropriately completes the request.\n\n"
                                    "### Instruction:\nWhat is the capital")
    assert "### Input" not in row["prompt"]
    assert row["prompt"].endswith("?\n\n### Response:\n")


@pytest.mark.parametrize("style, with_input, without_input", [
    ("alpaca:chat", "SYSTEM: {s}\nUSER: Give the opposite of the word.\nopen\nASSISTANT:",
     "SYSTEM: {n}\nUSER: Add the two numbers.\nASSISTANT:"),
    ("alpaca:chatml", "<|im_start|>system\n{s}<|im_end|>\n<|im_start|>user\nGive the opposite of "
     "the word.\nopen<|im_end|>\n<|im_start|>assistant\n",
     "<|im_start|>system\n{n}<|im_end|>\n<|im_start|>user\nAdd the two numbers.<|im_end|>\n"
     "<|im_start|>assistant\n"),
    # Axolotl's phi style puts the input straight after <|end|>; peftc keeps its text
    ("alpaca:phi", "<|system|>\n{s}<|end|>\n<|user|>\nGive the opposite of the word.<|end|>open"
     "<|assistant|>", "<|system|>\n{n}<|end|>\n<|user|>\nAdd the two numbers.<|end|>\n"
     "<|assistant|>\n"),
])
def test_alpaca_styles_render_axolotls_text(tmp_path, style, with_input, without_input):
    s = ("Below is an instruction that describes a task, paired with an input that provides "
         "further context. Write a response that appropriately completes the request.")
    n = ("Below is an instruction that describes a task. Write a response that appropriately "
         "completes the request.")
    data = tmp_path / "rows.jsonl"
    data.write_text('{"instruction": "Give the opposite of the word.", "input": "open", '
                    '"output": "closed"}\n{"instruction": "Add the two numbers.", "output": "5"}\n')
    out = rows({"path": str(data), "type": style, "split": "train", "builder": "json"})
    assert out == [{"prompt": with_input.format(s=s), "completion": "closed"},
                   {"prompt": without_input.format(n=n), "completion": "5"}]


def test_csqa_exact():
    first = rows(dataset_entry("commonsense_qa_sample.jsonl", "csqa"))[0]
    assert first == {
        "prompt": "### Instruction:\nWhere would you put a plate after washing it?\n\n"
                  "A. cupboard\nB. garden\nC. car\nD. river\nE. roof\n\n"
                  "Answer with a single letter (A-E).\n\n### Response:\n",
        "completion": "A",
    }


def test_fields_mapping_and_train_on_inputs():
    entry = dataset_entry("metamathqa_sample.jsonl", "metamath",
                          fields={"instruction": "original_question"})
    first = rows(entry, train_on_inputs=True)[0]
    assert first == {"text": "### Instruction:\nTom has 5 boxes of 9 pens. How many pens?\n\n"
                             "### Response:\nHe has 5 * 9 = 45 pens.\nThe answer is: 45"}


def test_completion_and_chat_template():
    entry = dataset_entry("alpaca.jsonl", "completion", fields={"text": "output"})
    assert rows(entry)[0] == {"text": "3, 17, 27, 49"}
    chat = rows(dataset_entry("chat.jsonl", "chat_template"))[0]
    assert set(chat) == {"messages", "tools"} and chat["tools"] is None
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "user",
                                                     "assistant"]


def test_input_output_segments(tmp_path, tiny_llama_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_path)
    path = tmp_path / "io.jsonl"
    path.write_text('{"segments": [{"text": "Q: hi\\n", "label": false}, '
                    '{"text": "A: hello", "label": true}]}\n')
    entry = dataset_entry("x", "input_output", path=str(path))
    row = rows(entry, tokenizer=tok)[0]
    q = tok("Q: hi\n", add_special_tokens=False)["input_ids"]
    a = tok("A: hello", add_special_tokens=False)["input_ids"]
    assert row["input_ids"] == [tok.bos_token_id, *q, *a]
    assert row["completion_mask"] == [0] * (1 + len(q)) + [1] * len(a)


def test_preference_keeps_metadata_and_maps_fields(tmp_path):
    out = rows(dataset_entry("preference.jsonl", "preference"), kind="dpo")
    assert set(out[0]) == {"prompt", "chosen", "rejected", "task_type"}
    path = tmp_path / "p.jsonl"
    path.write_text('{"question": "q?", "good": "yes", "bad": "no", "source": "s1"}\n')
    entry = dataset_entry("x", "preference", path=str(path),
                          fields={"prompt": "question", "chosen": "good", "rejected": "bad"})
    assert rows(entry, kind="dpo") == [{"prompt": "q?", "chosen": "yes", "rejected": "no",
                                        "source": "s1"}]


def test_val_split_is_seeded():
    section = data_section(dataset_entry("alpaca.jsonl", "alpaca"), val_set_size=0.1)
    train, val = load_data(section, "sft", None)
    train2, val2 = load_data(section, "sft", None)
    assert (len(train), len(val)) == (180, 20)
    assert list(val) == list(val2)


def completion_rows(tmp_path, texts):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return {"path": str(path), "local": True, "builder": "json", "name": None,
            "revision": None, "split": "train", "data_files": None,
            "type": "completion", "fields": {}}


def test_evaluation_rows_are_a_seeded_shuffle_or_the_last_rows(tmp_path):
    """Axolotl shuffles the merged datasets with the seed, then splits without shuffling;
    shuffle_merged_datasets: false keeps the order, so the evaluation rows are the last."""
    from datasets import Dataset

    texts = [f"row {i}" for i in range(20)]
    entry = completion_rows(tmp_path, texts)
    _, val = load_data(data_section(entry, val_set_size=4, shuffle=False), "sft", None)
    assert [r["text"] for r in val] == texts[-4:]
    train, val = load_data(data_section(entry, val_set_size=4), "sft", None)
    expected = Dataset.from_dict({"text": texts}).shuffle(seed=42)["text"]
    assert [r["text"] for r in val] == expected[-4:]
    assert [r["text"] for r in train] == expected[:-4]


def test_exact_duplicates_are_removed_before_the_split(tmp_path):
    texts = ["a", "b", "a", "c", "b", "a", "d"]
    entry = completion_rows(tmp_path, texts)
    stats: dict[str, int] = {}
    train, val = load_data(data_section(entry, val_set_size=1, deduplicate=True), "sft", None,
                           stats=stats)
    assert sorted(r["text"] for r in [*train, *val]) == ["a", "b", "c", "d"]
    assert stats == {"duplicates_removed": 3}
    train, _ = load_data(data_section(entry), "sft", None)  # off by default, as in Axolotl
    assert len(train) == 7


def test_wrong_type_for_kind_is_a_config_error():
    with pytest.raises(RuntimeConfigError, match="dpo run cannot use"):
        rows(dataset_entry("alpaca.jsonl", "alpaca"), kind="dpo")


def test_chat_template_reads_sharegpt_rows_through_mappings_and_roles(tmp_path):
    data = tmp_path / "sharegpt.jsonl"
    data.write_text('{"conversations": [{"from": "system", "value": "Be brief."}, {"from": '
                    '"human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": '
                    '"narrator", "value": "(end)"}]}\n')
    entry = {"path": str(data), "type": "chat_template", "split": "train", "builder": "json",
             "fields": {"messages": "conversations"},
             "message_property_mappings": {"role": "from", "content": "value"},
             "roles": {"user": ["human", "user"], "assistant": ["gpt", "assistant"],
                       "system": ["system"], "tool": ["tool"]}}
    assert rows(entry) == [{"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "narrator", "content": "(end)"},  # a role the map does not list passes
    ], "tools": None}]
    del entry["message_property_mappings"]
    with pytest.raises(RuntimeConfigError, match=r"no 'role' or 'content' key .*from, value"):
        rows(entry)


def test_chat_template_system_column_and_drop_system_message(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text('{"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}, '
                    '{"role": "assistant", "content": "Hello"}]}\n'
                    '{"system": "Unused.", "messages": [{"role": "system", "content": "Own."}, '
                    '{"role": "user", "content": "Hi"}]}\n')
    entry = {"path": str(data), "type": "chat_template", "split": "train", "builder": "json"}
    first, second = rows(entry)
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}  # as Axolotl
    assert second["messages"][0] == {"role": "system", "content": "Own."}
    first, second = rows({**entry, "drop_system_message": True})
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert [m["role"] for m in second["messages"]] == ["user"]


def _dpo_rows(tmp_path, type_, *lines):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return rows({"path": str(data), "type": type_, "split": "train", "builder": "json"},
                kind="dpo")


def test_axolotls_markup_dpo_types_render_as_axolotl_does(tmp_path):
    [row] = _dpo_rows(tmp_path, "chatml.default", {
        "system": "Be brief.", "instruction": "2+2?", "chosen_response": "4",
        "rejected_response": "5"})
    assert row == {"prompt": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?"
                             "<|im_end|>\n<|im_start|>assistant\n",
                   "chosen": "4<|im_end|>", "rejected": "5<|im_end|>"}
    [row] = _dpo_rows(tmp_path, "llama3.intel", {"question": "2+2?", "chosen": "4",
                                                 "rejected": "5", "system": ""})
    assert row == {"prompt": "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n",
                   "chosen": "4<|eot_id|>", "rejected": "5<|eot_id|>"}
    chat = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    [row] = _dpo_rows(tmp_path, "chatml.argilla_chat", {
        "chosen": chat, "rejected": [chat[0], {"role": "assistant", "content": "5"}]})
    assert row["prompt"] == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert (row["chosen"], row["rejected"]) == ("4<|im_end|>", "5<|im_end|>")


def test_chat_template_dpo_types_give_trls_conversational_rows(tmp_path):
    answer = [{"role": "assistant", "content": "4"}]
    [row] = _dpo_rows(tmp_path, "chat_template.default", {
        "messages": "2+2?", "chosen": answer, "rejected": {"role": "assistant",
                                                            "content": "5"}})
    assert row == {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": answer,
                   "rejected": [{"role": "assistant", "content": "5"}]}
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    [row] = _dpo_rows(tmp_path, "chat_template.argilla_chat", {
        "chosen": [*chat, answer[0]], "rejected": [*chat, {"role": "assistant",
                                                           "content": "5"}]})
    assert row["prompt"] == chat and row["chosen"] == answer


def test_a_hub_datasets_revision_and_subset_reach_load_dataset():
    entry = {"path": "org/set", "local": False, "builder": None, "name": "sub",
             "revision": "0123abc", "split": "train", "data_files": None}
    assert load_arguments(entry) == ("org/set", {"split": "train", "name": "sub",
                                                 "revision": "0123abc"})
    local = {**entry, "path": "/data/rows.jsonl", "local": True, "builder": "json",
             "name": None, "revision": None}
    assert load_arguments(local) == ("json", {"split": "train",
                                              "data_files": "/data/rows.jsonl"})


def test_a_dataset_not_on_this_machine_stops_before_the_model_loads(tmp_path, cli,
                                                                     monkeypatch):
    """Lint could only warn (W213); the run is where it must be there (E611), located at
    the spec's datasets line, before any model or data is loaded."""
    import peftc.runtime.model as model_module

    spec = tmp_path / "spec.yaml"
    spec.write_text("base_model: peftc:tiny-llama\nprofile: none\ndatasets:\n"
                    "  - path: /mnt/peftc-missing/train.jsonl\n    type: alpaca\n"
                    "max_steps: 2\n")

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(model_module, "load_model", no_model)
    code, _, err = cli("run", spec)
    assert code == 1
    assert f"{spec}:4:5: E611 error: dataset /mnt/peftc-missing/train.jsonl is not on this " \
           "machine" in err
