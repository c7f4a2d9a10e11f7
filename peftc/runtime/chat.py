"""Loss masks for ``type: chat_template`` rows, with any chat template a model ships.

Two routes, chosen once per run from the tokenizer's template (:func:`masking`):

- ``trl``: the template has ``{% generation %}`` markers, or TRL keeps a training copy of it
  (``trl.chat_template_utils.get_training_chat_template``), and TRL's own check finds the
  end-of-turn token inside the assistant mask. TRL's ``assistant_only_loss`` masks the rows.
- ``rendered``: every other template (a hand-written ChatML, Mistral's ``[INST]``, a
  template a user edited, TRL's copies whose stop token falls outside the mask). peftc
  tokenizes the rows itself with :func:`tokenize_conversation`.

Hand-written because no library masks an arbitrary template: transformers and TRL need the
markers. The span of a turn is found as Axolotl finds it, by rendering the conversation with
the turn's content replaced by a placeholder and taking the tokens where the renders differ,
with two changes. The whole conversation is rendered each time, not a prefix of it, so a
template that treats the last message specially cannot shift the span (Axolotl assumes each
prefix render is the start of the full one and does not check). Two placeholders that share
no first or last character are used, so content that happens to begin or end like one
placeholder still gets its whole span. A span whose text is not the turn's content fails its
row, which is dropped and counted, never trained with a wrong mask.

The end-of-turn token is found from the template too (:func:`find_terminator`): the tokens
it puts after an assistant message's content, trailing whitespace dropped. It is trained
after every trained turn (Axolotl's ``train_on_eos: turn``) whatever the tokenizer's EOS is:
Axolotl assumes the EOS ends a turn, so a ChatML template on a tokenizer whose EOS is
``</s>`` never trains ``<|im_end|>`` and the model never learns to stop.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from peftc.runtime.errors import RuntimeConfigError
from peftc.vocab.datasets import dataset_type

PLACEHOLDERS = ("[[peftc placeholder]]", "~~PEFTC PLACEHOLDER~~")  # no shared first/last char
TERMINATOR_SLACK = 3  # tokens a template may put between content and terminator (Axolotl's)


@dataclass(frozen=True)
class Masking:
    """How a run's chat rows are masked; recorded in metrics.json."""

    route: str  # "trl" or "rendered"
    reason: str
    # the end-of-turn tokens after a turn with another message after it, and after the last
    # message (they differ where a template ends the conversation specially: gpt-oss's
    # <|return|>, Phi-3's EOS)
    terminator: tuple[int, ...] = ()
    last_terminator: tuple[int, ...] = ()
    text: str = ""
    eot: tuple[int, ...] = ()  # the user's eot_tokens: any one of them ends a turn
    # apply_chat_template's other arguments: chat_template_kwargs, and a dataset's own
    # chat_template (for_dataset)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "reason": self.reason, "end_of_turn": self.text or None}


def render_ids(tokenizer: Any, messages: list[dict[str, Any]],
               kwargs: dict[str, Any] | None = None) -> list[int]:
    """The token ids of a whole conversation as the template renders it (no generation
    prompt; special tokens only where the template writes them); ``kwargs`` are the
    template's variables (chat_template_kwargs)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False,
                                         **(kwargs or {}))
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def content_span(tokenizer: Any, messages: list[dict[str, Any]], i: int,
                 ids: list[int], kwargs: dict[str, Any] | None = None
                 ) -> tuple[int, int] | None:
    """``(start, end)`` of message ``i``'s content in ``ids`` (the render of ``messages``),
    or None when the template does not render it as one located run of tokens."""
    starts, ends = [], []
    for placeholder in PLACEHOLDERS:
        swapped = [*messages[:i], {**messages[i], "content": placeholder}, *messages[i + 1:]]
        other = render_ids(tokenizer, swapped, kwargs)
        starts.append(_common_prefix(ids, other))
        ends.append(len(ids) - _common_prefix(ids[::-1], other[::-1]))
    start, end = min(starts), max(ends)
    content = messages[i].get("content")
    if not isinstance(content, str) or start >= end:
        return None
    text = tokenizer.decode(ids[start:end])
    # the span may take a separator merged into the content's first token, nothing more
    if content.strip() not in text or len(text) > len(content) + 8:
        return None
    return start, end


def find_terminators(tokenizer: Any, kwargs: dict[str, Any] | None = None
                     ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The end-of-turn tokens the template puts after an assistant message's content:
    ``<|im_end|>``, ``<|eot_id|>``, ``<end_of_turn>``, ``</s>``..., as (after a turn that
    another message follows, after the last message).

    After the last message it is everything the template writes, trailing whitespace
    dropped. After another turn it is the part of that which also comes first there (the
    next message's header follows); where nothing is shared, the first token there when it
    is a special token (gpt-oss ends the last turn with <|return|> and the others with
    <|end|>; GLM ends a turn with the next one's <|user|>)."""
    exchange = [{"role": "user", "content": "Hello there."},
                {"role": "assistant", "content": "General Kenobi."}]
    last = _strip_space(tokenizer, _after_content(tokenizer, exchange, kwargs))
    if len(last) > 1 and last[-1] == tokenizer.eos_token_id:  # an EOS ending the chat is
        last = _strip_space(tokenizer, last[:-1])              # train_on_eos's, not the turn's
    middle = _after_content(tokenizer, [*exchange, {"role": "user", "content": "Hi."}],
                            kwargs)
    shared = _strip_space(tokenizer, middle[:_common_prefix(middle, last)])
    if not shared:
        first = next((t for t in middle if tokenizer.decode([t]).strip()), None)
        shared = [first] if first in tokenizer.get_added_vocab().values() else []
    return tuple(shared), tuple(last)


def _strip_space(tokenizer: Any, ids: list[int]) -> list[int]:
    """``ids`` without the whitespace tokens at its end."""
    ids = list(ids)
    while ids and tokenizer.decode(ids[-1:]).strip() == "":
        ids.pop()
    return ids


def _after_content(tokenizer: Any, messages: list[dict[str, Any]],
                   kwargs: dict[str, Any] | None) -> list[int]:
    """The tokens after the content of ``messages[1]`` (an assistant message)."""
    ids = render_ids(tokenizer, messages, kwargs)
    span = content_span(tokenizer, messages, 1, ids, kwargs)
    if span is None:
        raise RuntimeConfigError("data: the chat template does not render an assistant "
                                 "message's content where peftc can find it",
                                 code="E614", field="tokenizer.chat_template")
    return list(ids[span[1]:])


def masking(tokenizer: Any, own: str | None = None, *, eot_tokens: list[str] | None = None,
            kwargs: dict[str, Any] | None = None) -> Masking:
    """The route for this tokenizer's template; says which on stderr. ``own`` is why the
    data's options need peftc's masks whatever the template (see :func:`options_need_own`).
    ``eot_tokens`` (Axolotl's key), when given, are the end-of-turn tokens instead of the
    template's; ``kwargs`` are the template's variables."""
    from trl.chat_template_utils import (
        get_training_chat_template,
        is_chat_template_stop_token_trained,
    )

    if not ((kwargs or {}).get("chat_template") or tokenizer.chat_template):
        raise RuntimeConfigError("data: type chat_template needs a chat template, and the "
                                 "tokenizer has none: set chat_template in the spec",
                                 code="E614", field="tokenizer.chat_template")
    try:
        training = get_training_chat_template(tokenizer)
    except ValueError:
        training = False
    if own is None and training is not False and is_chat_template_stop_token_trained(
            tokenizer, chat_template=training):
        why = ("the template has generation markers" if training is None else
               "TRL keeps a training copy of this template")
        return Masking("trl", why)
    why = own or ("its end-of-turn token falls outside TRL's mask" if training is not False
                  else "the template has no generation markers")
    kwargs = dict(kwargs or {})
    if eot_tokens:
        eot = user_eot(tokenizer, eot_tokens)
        if eot:
            names = ", ".join(repr(tokenizer.decode([t])) for t in eot)
            print(f"peftc: data: chat masks from the rendered template ({why}); end of turn "
                  f"{names} (eot_tokens)", file=sys.stderr, flush=True)
            return Masking("rendered", why, text=names, eot=eot, kwargs=kwargs)
    middle, last = find_terminators(tokenizer, kwargs)
    if not (middle or last):
        raise RuntimeConfigError(
            "data: the chat template puts nothing after an assistant message, so the model "
            "could not learn to stop: use a template that ends each turn with a token",
            code="E614", field="tokenizer.chat_template")
    texts = dict.fromkeys(tokenizer.decode(list(t)) for t in (middle, last) if t)
    text = " / ".join(repr(t) for t in texts)
    print(f"peftc: data: chat masks from the rendered template ({why}); end of turn {text}",
          file=sys.stderr, flush=True)
    longest = max(middle, last, key=len)
    if len(longest) > 1:
        print(f"peftc: warning: the end of turn {tokenizer.decode(list(longest))!r} is "
              f"{len(longest)} tokens of this tokenizer; they are trained together. Adding it "
              "as one token (tokens:) lets the model emit it at once", file=sys.stderr,
              flush=True)
    return Masking("rendered", why, middle, last, " / ".join(texts), kwargs=kwargs)


def for_dataset(chat: Masking, tokenizer: Any, entry: dict[str, Any]) -> Masking:
    """The masking of a dataset with a chat template of its own (Axolotl renders each dataset
    with its own): the run's, rendered with that template."""
    from peftc.vocab.chat_templates import NAMED, template_text

    own = entry.get("chat_template")
    if not own:
        return chat
    kwargs = {**chat.kwargs, "chat_template": template_text(own) if own in NAMED else own}
    if chat.eot:
        return Masking("rendered", chat.reason, text=chat.text, eot=chat.eot, kwargs=kwargs)
    print(f"peftc: data: {entry['path']}: its own chat template", file=sys.stderr, flush=True)
    return masking(tokenizer, chat.reason, kwargs=kwargs)


def user_eot(tokenizer: Any, eot_tokens: list[str]) -> tuple[int, ...]:
    """The ids of the user's eot_tokens, as Axolotl checks them: one the template never
    writes is dropped with a warning; one that is several tokens of the tokenizer is an
    error."""
    template = tokenizer.chat_template or ""
    out = []
    for token in eot_tokens:
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeConfigError(
                f"data: eot_tokens: {token!r} is {len(ids)} tokens of this tokenizer, so it "
                "cannot mark an end of turn (Axolotl refuses it too); remove it to use the "
                "end of turn the template writes", code="E614", field="data.eot_tokens")
        if token not in template:
            print(f"peftc: warning: eot_tokens: the chat template never writes {token!r}; it "
                  "is ignored", file=sys.stderr, flush=True)
            continue
        out.append(ids[0])
    return tuple(out)


def options_need_own(data: dict[str, Any]) -> str | None:
    """Why the data section's chat options need peftc's masks (TRL's route trains the
    assistant turns and the template's end of turn, and renders without variables), or
    None."""
    if data.get("eot_tokens"):
        return "eot_tokens"
    if data.get("chat_template_kwargs"):
        return "chat_template_kwargs"
    train_on_inputs = data.get("train_on_inputs")
    for entry in data["datasets"]:
        if not ((dtype := dataset_type(entry.get("type"))) and dtype.chat):
            continue
        if entry.get("chat_template"):
            return "a dataset has a chat template of its own"
        if entry.get("message_field_training"):
            return f"message_field_training {entry['message_field_training']}"
        if train_on_inputs:
            return "train_on_inputs trains every turn's content"
        if list(entry["roles_to_train"]) != ["assistant"]:
            return f"roles_to_train {entry['roles_to_train']}"
        for key in ("train_on_eos", "train_on_eot"):
            if entry[key] != "turn":
                return f"{key}: {entry[key]}"
    return None


def tokenize_conversation(messages: list[dict[str, Any]], tokenizer: Any, chat: Masking, *,
                          roles_to_train: tuple[str, ...] | list[str] = ("assistant",),
                          train_on_inputs: bool = False, train_on_eos: str = "turn",
                          train_on_eot: str | None = None,
                          tools: list[Any] | None = None) -> dict[str, Any]:
    """``{"input_ids", "assistant_masks", "peftc_unlocated"}`` of one conversation, masked as
    Axolotl's chat_template strategy masks it:

    - the content of the turns whose role is in ``roles_to_train`` (every turn with
      ``train_on_inputs``; a turn's own ``training`` flag, when set, decides for it) is
      trained; role headers and separators never are;
    - the template's end-of-turn tokens are trained as ``train_on_eot`` says (after all
      turns, the trained ones, the last trained one, or none; ``train_on_eos`` when unset),
      and the tokenizer's EOS, where the template writes it within a few tokens after a turn
      and it is not the end of turn itself, as ``train_on_eos`` says.

    A trained turn that cannot be located gives the row no trained token
    (``peftc_unlocated``), so it is dropped."""
    eot_policy = train_on_eot or train_on_eos
    policies = (eot_policy, train_on_eos)
    kwargs = {**chat.kwargs, **({"tools": tools} if tools else {})}
    ids = render_ids(tokenizer, messages, kwargs)
    mask = [0] * len(ids)
    eos = (tokenizer.eos_token_id,) if tokenizer.eos_token_id is not None else ()
    eot_hits: list[tuple[int, int]] = []
    eos_hits: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        trained = message.get("training")
        if trained is None:
            trained = train_on_inputs or message.get("role") in roles_to_train
        if not trained and "all" not in policies:
            continue
        if message.get("content") == "":  # a tool call's turn: nothing of it to train, as
            continue                       # Axolotl skips it
        span = content_span(tokenizer, messages, i, ids, kwargs)
        if span is None:
            if trained:
                return {"input_ids": ids, "assistant_masks": [0] * len(ids),
                        "peftc_unlocated": True}
            continue
        start, end = span
        if trained:
            mask[start:end] = [1] * (end - start)
        terminator = chat.last_terminator if i == len(messages) - 1 else chat.terminator
        at = _terminator_at(ids, end, terminator)
        if chat.eot:  # the user's: the first of them after the content
            at = next((p for p in range(end, min(end + TERMINATOR_SLACK + 1, len(ids)))
                       if ids[p] in chat.eot), None)
            terminator = (ids[at],) if at is not None else ()
        if at is not None and (trained or eot_policy == "all"):
            eot_hits.append((at, len(terminator)))
        if eos and eos != terminator:
            after = end if at is None else at + len(terminator)
            e = _terminator_at(ids, after, eos)
            if e is not None and (trained or train_on_eos == "all"):
                eos_hits.append((e, 1))
    for policy, hits in ((eot_policy, eot_hits), (train_on_eos, eos_hits)):
        for at, n in {"none": [], "last": hits[-1:]}.get(policy, hits):
            mask[at:at + n] = [1] * n
    return {"input_ids": ids, "assistant_masks": mask, "peftc_unlocated": False}


def _terminator_at(ids: list[int], end: int, terminator: tuple[int, ...]) -> int | None:
    n = len(terminator)
    if not n:
        return None
    for at in range(end, min(end + TERMINATOR_SLACK + 1, len(ids) - n + 1)):
        if tuple(ids[at:at + n]) == terminator:
            return at
    return None
