"""Row formatters: one function per ``data.datasets[].type``, turning a raw row into TRL's
dataset formats.

SFT rows become TRL *prompt-completion* rows (``{"prompt", "completion"}``) so that TRL's
``completion_only_loss`` masks the prompt; with ``train_on_inputs: true`` they become plain
``{"text"}`` rows (loss on everything). ``chat_template`` rows stay conversational
(``{"messages"}``) for TRL's ``assistant_only_loss``; ``preference`` rows become
``{"prompt", "chosen", "rejected"}``. No formatter masks tokens itself.

The task plugins (metamath, magicoder, alpaca_plain, csqa) follow the sweep's formatting: the first
present field of a list of candidates, wrapped in ``### Instruction`` / ``### Response``.
``fields`` maps a formatter's field name to the dataset's column (``{instruction: question}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from peftc.runtime.errors import RuntimeConfigError
from peftc.vocab.datasets import DATASET_TYPES
from peftc.vocab.keys import role_of

Row = dict[str, Any]

METAMATH_INSTRUCTION = ("query", "original_question", "question", "instruction", "prompt")
METAMATH_RESPONSE = ("response", "answer", "output", "solution")
MAGICODER_INSTRUCTION = ("instruction", "prompt", "query", "problem")
MAGICODER_RESPONSE = ("response", "output", "answer", "completion")
CSQA_LETTERS = ("A", "B", "C", "D", "E")


def instruction_prompt(instruction: str, input_text: str = "") -> str:
    """``### Instruction:\\n...\\n\\n[### Input:\\n...\\n\\n]### Response:\\n``."""
    prompt = f"### Instruction:\n{instruction}\n\n"
    if input_text:
        prompt += f"### Input:\n{input_text}\n\n"
    return prompt + "### Response:\n"


def first_present(row: Row, candidates: tuple[str, ...], fields: dict[str, str], name: str) -> str:
    """The mapped column ``fields[name]`` if given, else the first candidate column that is present
    and non-empty."""
    if name in fields:
        value = row.get(fields[name])
        if value is None:
            raise RuntimeConfigError(f"data: column {fields[name]!r} (fields.{name}) is missing",
                                     code="E612")
        return str(value)
    for key in candidates:
        value = row.get(key)
        if value not in (None, ""):
            return str(value)
    raise RuntimeConfigError(
        f"data: a row has none of the columns {', '.join(candidates)} for {name!r}; map one with "
        f"fields: {{{name}: <column>}}", code="E612"
    )


def column(row: Row, fields: dict[str, str], name: str, default: Any = None) -> Any:
    """``row[fields.get(name, name)]``, or ``default`` when the column is absent."""
    return row.get(fields.get(name, name), default)


def sft_row(prompt: str, completion: str, train_on_inputs: bool) -> Row:
    """A TRL prompt-completion row, or a plain-text row when the prompt is trained on too."""
    if train_on_inputs:
        return {"text": prompt + completion}
    return {"prompt": prompt, "completion": completion}


def format_metamath(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    instruction = first_present(row, METAMATH_INSTRUCTION, fields, "instruction")
    response = first_present(row, METAMATH_RESPONSE, fields, "response")
    return sft_row(instruction_prompt(instruction), response, train_on_inputs)


def format_magicoder(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    instruction = first_present(row, MAGICODER_INSTRUCTION, fields, "instruction")
    response = first_present(row, MAGICODER_RESPONSE, fields, "response")
    return sft_row(instruction_prompt(instruction), response, train_on_inputs)


def format_alpaca_plain(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    """The seed sweep's alpaca task: a non-empty ``text`` is used as it is (all of it trained
    on, it has no prompt/response split); otherwise instruction + optional input + output."""
    text = column(row, fields, "text")
    if text:
        return {"prompt": "", "completion": text} if not train_on_inputs else {"text": text}
    instruction = column(row, fields, "instruction")
    output = column(row, fields, "output")
    if instruction is None or output is None:
        raise RuntimeConfigError("data: alpaca rows need instruction and output columns (or text)",
                                 code="E612")
    prompt = instruction_prompt(instruction, column(row, fields, "input", "") or "")
    return sft_row(prompt, output, train_on_inputs)


# Axolotl's alpaca prompt styles (``type: alpaca`` and ``alpaca:<style>``), copied from
# axolotl/prompters.py ``AlpacaPrompter`` (0.18) with their quirks (phi puts the input right
# after ``<|end|>``), so that a type means the text Axolotl trains on. style -> (system line,
# turn with input, turn without input).
_ALPACA_SYSTEM = ("Below is an instruction that describes a task, paired with an input that "
                  "provides further context. Write a response that appropriately completes "
                  "the request.")
_ALPACA_SYSTEM_NO_INPUT = ("Below is an instruction that describes a task. Write a response "
                           "that appropriately completes the request.")
ALPACA_STYLES: dict[str, tuple[str, str, str]] = {
    "instruct": ("{system}\n\n",
                 "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
                 "### Instruction:\n{instruction}\n\n### Response:\n"),
    "chat": ("SYSTEM: {system}\n",
             "USER: {instruction}\n{input}\nASSISTANT:",
             "USER: {instruction}\nASSISTANT:"),
    "chatml": ("<|im_start|>system\n{system}<|im_end|>\n",
               "<|im_start|>user\n{instruction}\n{input}<|im_end|>\n<|im_start|>assistant\n",
               "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"),
    "phi": ("<|system|>\n{system}<|end|>\n",
            "<|user|>\n{instruction}<|end|>{input}<|assistant|>",
            "<|user|>\n{instruction}<|end|>\n<|assistant|>\n"),
}


def alpaca_prompt(style: str, instruction: str, input_text: str = "") -> str:
    """The prompt Axolotl's ``alpaca:<style>`` builds: system sentence, then the turn."""
    system, turn, turn_no_input = ALPACA_STYLES[style]
    if input_text:
        return (system.format(system=_ALPACA_SYSTEM)
                + turn.format(instruction=instruction, input=input_text))
    return (system.format(system=_ALPACA_SYSTEM_NO_INPUT)
            + turn_no_input.format(instruction=instruction))


def format_alpaca(row: Row, fields: dict[str, str], train_on_inputs: bool, *,
                  style: str = "instruct") -> Row:
    """Axolotl's alpaca: instruction, optional input and output columns."""
    instruction = column(row, fields, "instruction")
    output = column(row, fields, "output")
    if instruction is None or output is None:
        raise RuntimeConfigError("data: alpaca rows need instruction and output columns",
                                 code="E612")
    prompt = alpaca_prompt(style, instruction, column(row, fields, "input", "") or "")
    return sft_row(prompt, output, train_on_inputs)


def csqa_question(question: str, choices: dict[str, list[str]]) -> str:
    """The question followed by its lettered choices, one per line (``A. text``)."""
    labels = list(choices.get("label") or CSQA_LETTERS)
    texts = list(choices["text"])
    lines = [f"{label}. {text}" for label, text in zip(labels, texts, strict=True)]
    return question + "\n\n" + "\n".join(lines) + "\n\nAnswer with a single letter (A-E)."


def format_csqa(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    question = column(row, fields, "question")
    choices = column(row, fields, "choices")
    answer = column(row, fields, "answerKey")
    if question is None or not choices or not answer:
        raise RuntimeConfigError("data: csqa rows need question, choices and answerKey columns",
                                 code="E612")
    answer = str(answer).strip().upper()
    if answer not in CSQA_LETTERS:
        raise RuntimeConfigError(f"data: csqa answerKey {answer!r} is not one of A-E", code="E612")
    return sft_row(instruction_prompt(csqa_question(question, choices)), answer, train_on_inputs)


def format_completion(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    """Raw text, trained on entirely (Axolotl ``completion``)."""
    text = column(row, fields, "text")
    if text is None:
        raise RuntimeConfigError(
            "data: completion rows need a text column (or fields: {text: ...})", code="E612"
        )
    return {"text": text}


def format_chat_template(row: Row, fields: dict[str, str], train_on_inputs: bool, *,
                         message_property_mappings: dict[str, str] | None = None,
                         roles: dict[str, list[str]] | None = None,
                         drop_system_message: bool = False,
                         message_field_training: str | None = None) -> Row:
    """A conversational ``messages`` row (Axolotl ``chat_template``); the tokenizer's chat template
    renders it and TRL's ``assistant_only_loss`` masks non-assistant turns.

    As in Axolotl, each message key is read from the row's key that
    ``message_property_mappings`` names (``{role: from, content: value}`` for ShareGPT rows),
    and role values go through ``roles`` (``gpt`` -> ``assistant``); a role it does not list
    passes through unchanged. A ``system`` column becomes the first turn when the messages
    do not start with one; ``drop_system_message`` drops a leading system turn. A message's
    ``message_field_training`` key, when set, says whether its turn trains (``training``).
    The ``tools`` column (``field_tools``) goes to the template as JSON text."""
    messages = column(row, fields, "messages")
    if not messages:
        raise RuntimeConfigError("data: chat_template rows need a messages list", code="E612")
    mappings = message_property_mappings or {"role": "role", "content": "content"}
    to_template = role_of(roles or {})
    out = []
    for message in messages:
        turn = {key: message[source] for key, source in mappings.items()
                if message.get(source) is not None}
        if "role" not in turn or "content" not in turn:
            raise RuntimeConfigError(
                f"data: a chat_template message has no {mappings['role']!r} or "
                f"{mappings['content']!r} key (its keys: {', '.join(sorted(message))}); set "
                "message_property_mappings", code="E612")
        turn["role"] = to_template.get(turn["role"], turn["role"])
        if message_field_training:
            turn["training"] = message.get(message_field_training)
        out.append(turn)
    if row.get("system") and (not out or out[0]["role"] != "system"):
        out.insert(0, {"role": "system", "content": row["system"]})
    if drop_system_message and out and out[0]["role"] == "system":
        out = out[1:]
    tools = column(row, fields, "tools")  # every row has the column: datasets needs one shape
    return {"messages": out,
            "tools": tools if isinstance(tools, str) or tools is None else json.dumps(tools)}


def input_output_segments(row: Row, fields: dict[str, str]) -> list[dict[str, Any]]:
    """Axolotl ``input_output`` segments: ``[{text, label}]``; label false = not trained on."""
    segments = column(row, fields, "segments")
    if not segments:
        raise RuntimeConfigError("data: input_output rows need a segments list of {text, label}",
                                 code="E612")
    return segments


def format_input_output(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    """Axolotl's input_output: labelled text segments, which peftc tokenizes and masks."""
    return {"segments": input_output_segments(row, fields)}


def format_preference(row: Row, fields: dict[str, str], train_on_inputs: bool) -> Row:
    """``{prompt, chosen, rejected}`` (strings or message lists) for DPO; other columns are kept
    as metadata by the caller."""
    out = {}
    for name in ("prompt", "chosen", "rejected"):
        value = column(row, fields, name)
        if value is None:
            raise RuntimeConfigError(f"data: preference rows need a {name} column", code="E612")
        out[name] = value
    return out


def _answer(value: Any, what: str) -> str:
    """The text of a chosen/rejected value: a string, a message, or a list of messages (its
    last one), as Axolotl's chat_template DPO type reads it."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str):
        raise RuntimeConfigError(f"data: a preference row's {what} is not a string, a message "
                                 "or a list of messages", code="E612")
    return value


def format_chat_preference(row: Row, fields: dict[str, str], train_on_inputs: bool, *,
                           conversations: bool = False) -> Row:
    """Axolotl's ``chat_template.default`` (``conversations=False``): the ``messages`` column
    is the prompt (a string is one user turn), chosen and rejected the answers. With
    ``chat_template.argilla_chat`` chosen and rejected are whole conversations whose last
    turns are the answers. The result is TRL's conversational preference format: TRL renders
    it with the tokenizer's chat template, the prompt with the generation prompt."""
    if conversations:
        chosen, rejected = column(row, fields, "chosen"), column(row, fields, "rejected")
        if not (isinstance(chosen, list) and len(chosen) > 1 and isinstance(rejected, list)):
            raise RuntimeConfigError("data: chat_template.argilla_chat rows need chosen and "
                                     "rejected conversations", code="E612")
        prompt = chosen[:-1]
    else:
        prompt = column(row, fields, "messages")
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        if not prompt:
            raise RuntimeConfigError("data: chat_template.default rows need a messages column "
                                     "(field_messages) with the prompt", code="E612")
        chosen, rejected = column(row, fields, "chosen"), column(row, fields, "rejected")
    turns = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return {"prompt": turns,
            "chosen": [{"role": "assistant", "content": _answer(chosen, "chosen")}],
            "rejected": [{"role": "assistant", "content": _answer(rejected, "rejected")}]}


# variant -> the column of the user text (default: the first present, else instruction)
MARKUP_PROMPT = {"default": ("prompt", "input", "question", "instruction"),
                 "intel": ("question",), "icr": ("input",), "prompt_pairs": ("prompt",),
                 "ultra": ("prompt",)}


def format_markup_preference(row: Row, fields: dict[str, str], train_on_inputs: bool, *,
                             family: str, markup: tuple[str, str, str], variant: str) -> Row:
    """Axolotl's ``chatml.*`` and ``llama3.*`` DPO types: the prompt in the family's markup,
    ending with the assistant header; each answer followed by the family's end of turn.
    ``argilla_chat`` reads the first two turns of the chosen and rejected conversations;
    ``ultra`` the second turns. The others read a system column, when present, too."""
    system_turn, user_turn, end = markup
    if variant in ("argilla_chat", "ultra"):
        chosen, rejected = row.get("chosen"), row.get("rejected")
        if not (isinstance(chosen, list) and isinstance(rejected, list)
                and len(chosen) > 1 and len(rejected) > 1):
            raise RuntimeConfigError(f"data: {family}.{variant} rows need chosen and rejected "
                                     "conversations of two turns", code="E612")
        key = "chosen" if variant == "argilla_chat" else "prompt"
        user = chosen[0]["content"] if variant == "argilla_chat" else row.get(key)
        chosen, rejected = chosen[1]["content"], rejected[1]["content"]
    else:
        keys = MARKUP_PROMPT[variant]
        key = next((k for k in keys if k in row), keys[-1])
        user = row.get(key)
        chosen = row.get("chosen", row.get("chosen_response"))
        rejected = row.get("rejected", row.get("rejected_response"))
    missing = [name for name, value in ((f"'{key}' (the prompt)", user),
                                        ("'chosen'", chosen), ("'rejected'", rejected))
               if value is None]
    if missing:
        raise RuntimeConfigError(f"data: a {family}.{variant} row lacks column "
                                 f"{' and '.join(missing)}", code="E612")
    system = row.get("system") if variant != "argilla_chat" else None
    prompt = (system_turn.format(system) if system else "") + user_turn.format(user)
    return {"prompt": prompt, "chosen": f"{chosen}{end}", "rejected": f"{rejected}{end}"}


def row_formatter(entry: dict[str, Any], train_on_inputs: bool) -> Callable[[Row], Row]:
    """The function that formats one raw row of a ``data.datasets[]`` entry. Pure Python:
    lint runs it on a local file's first rows, so the columns a type needs are spelled only
    here, in the formatters."""
    fields = dict(entry.get("fields") or {})
    dtype = DATASET_TYPES[entry["type"]]
    # the vocabulary names the function of this module that formats the type
    formatter = partial(globals()[dtype.formatter], **dtype.options)
    if dtype.chat:
        formatter = partial(formatter, roles=entry.get("roles"),
                            message_property_mappings=entry.get("message_property_mappings"),
                            drop_system_message=bool(entry.get("drop_system_message")),
                            message_field_training=entry.get("message_field_training"))
    return lambda row: formatter(row, fields, train_on_inputs)
