"""The model families peftc knows: the one table of what the compiler needs from an architecture.

Each family is one transformers architecture (its ``model_type``), with the module names a
default adapter targets, the decoder layer class FSDP wraps, and the context length assumed when
the model's own ``config.json`` is not at hand. Every fact here is checked against transformers
by ``tests/test_families.py``, which builds a tiny random model of each family from
transformers' own config class.

Where the seeds' target table disagrees with the real architecture, the architecture wins:
Phi-3 fuses its projections (``qkv_proj``, ``gate_up_proj``), and the mixture-of-experts
families of transformers 5 keep their experts as 3-D parameters rather than linear layers, so
their default targets are the attention projections only.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class Family(NamedTuple):
    """What the compiler and the lint rules know of one architecture."""

    model_types: tuple[str, ...]  # config.json model_type values of this architecture
    names: str  # regular expression on the lower-cased model id, when no config.json is at hand
    targets: tuple[str, ...]  # LoRA's default target modules
    ia3: tuple[str, ...]  # IA3's target modules (key, value, feed-forward out)
    ff: tuple[str, ...]  # IA3's feed-forward modules, a subset of ``ia3``
    embeddings: tuple[str, ...]  # input embedding and output head (new tokens train both)
    layer: str  # the decoder layer class (FSDP's transformer auto-wrap)
    context: int  # context length assumed from the model id alone
    sdpa: bool = True  # transformers runs its attention with torch's sdpa (else eager is default)
    tied: bool = False  # its output head is its input embedding (some sizes of others tie too)
    # without config.json, the context of the versions a model id names: (regular expression on
    # the lower-cased id, context, the version's name), tried in order before ``context``
    versions: tuple[tuple[str, int, str], ...] = ()
    # (regular expression on the id, largest size in billions): the sizes that tie the head
    tied_upto: tuple[str, float] | None = None

    @property
    def modules(self) -> frozenset[str]:
        """Every module name a target may name on this architecture."""
        return frozenset({*self.targets, *self.ia3, *self.embeddings})


# Llama's projections, in this order: query, key, value, output; gate, up, down
LLAMA_LIKE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")  # MoE: experts are not linear layers
_EMBEDDINGS = ("embed_tokens", "lm_head")


def _llama_like(model_type: str, names: str, layer: str, context: int, **facts: Any) -> Family:
    return Family((model_type,), names, LLAMA_LIKE, ("k_proj", "v_proj", "down_proj"),
                  ("down_proj",), _EMBEDDINGS, layer, context, **facts)


def _moe(model_type: str, names: str, layer: str, context: int, **facts: bool) -> Family:
    return Family((model_type,), names, _ATTENTION, ("k_proj", "v_proj"), (), _EMBEDDINGS,
                  layer, context, **facts)


_NEOX_LIKE = ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")

# Name heuristics are tried in this order, so a family whose ids contain another's name comes
# first (mixtral before mistral, qwen3_moe before qwen3, phi3 before phi).
FAMILIES: dict[str, Family] = {
    "mixtral": _moe("mixtral", r"mixtral", "MixtralDecoderLayer", 32768),
    "stablelm": _llama_like("stablelm", r"stablelm", "StableLmDecoderLayer", 4096),
    "mistral": _llama_like("mistral", r"mistral|zephyr", "MistralDecoderLayer", 8192),
    "qwen3_moe": _moe("qwen3_moe", r"qwen3.*-a\d+b", "Qwen3MoeDecoderLayer", 32768),
    "qwen3": _llama_like("qwen3", r"qwen3", "Qwen3DecoderLayer", 32768),
    "qwen2": _llama_like("qwen2", r"qwen2|qwen1\.5|qwq", "Qwen2DecoderLayer", 32768,
                         tied_upto=("", 4)),
    "gemma3_text": _llama_like("gemma3_text", r"gemma-?3", "Gemma3DecoderLayer", 32768,
                               tied=True),
    # gemma-2b is a Gemma (1) of 2B parameters
    # Gemma 2 soft-caps its attention logits, which sdpa cannot
    "gemma2": _llama_like("gemma2", r"gemma-?2(?!\d*b)", "Gemma2DecoderLayer", 8192,
                          sdpa=False, tied=True),
    "gemma": _llama_like("gemma", r"gemma", "GemmaDecoderLayer", 8192, tied=True),
    # Phi-3 (and Phi-4) fuse query, key and value, and gate and up: IA3 scales all of qkv_proj
    "phi3": Family(("phi3",), r"(?<![a-z])phi-?[34]",
                   ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"), ("qkv_proj", "down_proj"),
                   ("down_proj",), _EMBEDDINGS, "Phi3DecoderLayer",
                   4096),
    "phi": Family(("phi",), r"(?<![a-z])phi(?![a-z])",
                  ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
                  ("k_proj", "v_proj", "fc2"), ("fc2",), _EMBEDDINGS, "PhiDecoderLayer", 2048),
    # transformers 5 renamed GPT-NeoX's head embed_out to lm_head (Axolotl still names
    # embed_out, which the loaded model no longer has)
    "gpt_neox": Family(("gpt_neox",), r"pythia|gpt-?neox|neox", _NEOX_LIKE,
                       ("query_key_value", "dense_4h_to_h"), ("dense_4h_to_h",),
                       ("embed_in", "lm_head"), "GPTNeoXLayer", 2048),
    # Falcon3 and Falcon-Mamba are other architectures (Falcon3 is Llama's)
    "falcon": Family(("falcon",), r"falcon(?!-?3|-?mamba|-?h1|-?e)", _NEOX_LIKE,
                     ("query_key_value", "dense_4h_to_h"), ("dense_4h_to_h",),
                     ("word_embeddings", "lm_head"), "FalconDecoderLayer", 2048,
                     tied=True),
    "olmo2": _llama_like("olmo2", r"olmo-?2", "Olmo2DecoderLayer", 4096),
    "olmo3": _llama_like("olmo3", r"olmo-?3", "Olmo3DecoderLayer", 65536),
    # Command R7B is Cohere 2, another architecture
    "cohere": _llama_like("cohere", r"command-r(?!7b)|aya-(?:23|expanse)",
                          "CohereDecoderLayer", 8192, tied=True),
    # GPT-OSS's attention sinks are not in sdpa either
    "gpt_oss": _moe("gpt_oss", r"gpt-oss", "GptOssDecoderLayer", 131072, sdpa=False),
    "llama": _llama_like("llama", r"llama|vicuna|smollm(?!3)|falcon-?3",
                         "LlamaDecoderLayer", 4096,
                         versions=((r"llama-?3\.\d", 131072, "Llama 3.1+"),
                                   (r"llama-?3(?![.\d])", 8192, "Llama 3"),
                                   (r"llama-?2", 4096, "Llama 2")),
                         tied_upto=(r"llama-?3\.2", 3)),
}

# config.json model_type -> family
BY_MODEL_TYPE = {t: name for name, fam in FAMILIES.items() for t in fam.model_types}
_NAMES = [(name, re.compile(fam.names)) for name, fam in FAMILIES.items()]


_SIZE = re.compile(r"(?:^|[-_/.\s])(\d+(?:\.\d+)?)\s*([bm])(?=$|[-_.\s])", re.IGNORECASE)
_MOE = re.compile(r"\d+\s*x\s*\d+(?:\.\d+)?\s*b", re.IGNORECASE)


def size_of_name(model_id: str) -> float | None:
    """Parameters in billions read from a model id ('7b', '70B', '1.5B', '135M'); None when
    the id does not say, or for mixture-of-experts ids ('8x7B') whose active size differs."""
    name = model_id.rstrip("/").rsplit("/", 1)[-1]
    if _MOE.search(name):
        return None
    m = _SIZE.search(name)
    if not m:
        return None
    value = float(m.group(1))
    return value / 1000 if m.group(2).lower() == "m" else value


def family_of_name(model_id: str) -> str | None:
    """The family a model id names (its last path part), or None: the heuristic used only when
    the model's config.json is not at hand."""
    name = model_id.lower().rstrip("/").rsplit("/", 1)[-1]
    return next((family for family, pattern in _NAMES if pattern.search(name)), None)


DOC_HEADER = """# Model families

Generated by `python -m peftc.vocab.families > docs/families.md`; every row is checked against
transformers by `tests/runtime/test_families.py`.

A run's family is its model's architecture. The compiler reads it from the model's own
`config.json` (`model_type`) when it is at hand: a local model folder, the local Hugging Face
cache, or the hub with `peftc compile --resolve-models`. Without one, the family is told from the
model id (the `names` column). `provenance.json` says which (`model_family`'s source). A
`config.json` also gives the native context length (lint's W182) and whether the output head is
tied to the input embeddings (W181). `model_family:` in a spec overrides all of this (W212
when it is not the config's architecture).

Unless the spec sets `attn_implementation`, a run uses transformers' default attention for its
architecture, as Axolotl does: sdpa, or eager where the architecture cannot run sdpa (Gemma 2,
GPT-OSS), and asking those for sdpa is an error (E224).

On an architecture not in this table, LoRA targets every linear layer (PEFT's `all-linear`,
note I211); IA3, which needs its feed-forward modules named, stops with E210 until they are
listed. FSDP then wraps the classes the model itself names (`_no_split_modules`).

Where the seeds' target table disagrees with the real architecture, the architecture wins:
Phi-3 (and Phi-4) fuse their projections into `qkv_proj` and `gate_up_proj`, so its LoRA targets
are those, not Phi-2's `q_proj ... fc2`. In transformers 5 the experts of Mixtral, Qwen3-MoE and
GPT-OSS are 3-D parameters, not linear layers: their default LoRA targets are the attention
projections, and a target named `w1`, `gate_proj` or `experts` matches nothing there.

"""
_TABLE_HEAD = ("| family | `model_type` | names (model id) | LoRA targets | IA3 targets "
               "(feed-forward) | embeddings | decoder layer | context without config; notes |\n"
               "| --- | --- | --- | --- | --- | --- | --- | --- |\n")


def _notes(fam: Family) -> str:
    notes = [f"{version} (`{pattern}`): {context}" for pattern, context, version in fam.versions]
    if not fam.sdpa:
        notes.append("no sdpa: eager attention (E224)")
    if fam.tied:
        notes.append("head tied to the input embeddings")
    elif fam.tied_upto:
        pattern, upto = fam.tied_upto
        named = f" named `{pattern}`" if pattern else ""
        notes.append(f"head tied at sizes up to {upto:g}B{named}")
    return "".join(f"; {note}" for note in notes)


def render_markdown() -> str:
    """docs/families.md."""
    def names(items: tuple[str, ...]) -> str:
        return ", ".join(items) or "none"

    pipe = "\\|"  # a | in a regular expression, escaped in a table cell

    rows = "".join(
        f"| `{name}` | {names(fam.model_types)} | `{fam.names.replace('|', pipe)}` | "
        f"{names(fam.targets)} | "
        f"{names(fam.ia3)} ({names(fam.ff)}) | {names(fam.embeddings)} | {fam.layer} | "
        f"{fam.context}{_notes(fam)} |\n"
        for name, fam in sorted(FAMILIES.items()))
    return DOC_HEADER + _TABLE_HEAD + rows


if __name__ == "__main__":
    print(render_markdown(), end="")
