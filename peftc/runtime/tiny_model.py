"""The embedded tiny model ``peftc:tiny-llama``.

A Llama-architecture model small enough to train in seconds on a CPU (hidden 64, intermediate
128, 2 layers, 4 heads, 2 KV heads, ~1,000-token byte-level BPE vocabulary, about 200k
parameters). Only the tokenizer ships with peftc (``assets/tiny-llama/``); the weights are built
deterministically from :data:`TINY_LLAMA_CONFIG` and :data:`TINY_LLAMA_SEED` at first use into a
cache folder (``$PEFTC_CACHE`` or ``~/.cache/peftc``), after which ``from_pretrained`` loads it
like any local model. :func:`resolve_model_path` maps ``peftc:tiny-llama`` to that folder.

:func:`train_tokenizer` is how the shipped tokenizer was made (run once, offline).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from peftc.vocab.catalog import TINY_LLAMA

ASSETS = Path(__file__).parent / "assets" / "tiny-llama"
TINY_LLAMA_SEED = 1234
# A short deterministic pretraining on English text (the Python documentation topics that ship
# with CPython), so that the embedded model is a (very small) language model and fine-tuning
# visibly lowers the loss instead of fighting random embeddings.
PRETRAIN = {"steps": 300, "batch_size": 16, "block_size": 64, "learning_rate": 3e-3}
TINY_LLAMA_CONFIG: dict = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
}
VOCAB_SIZE = 1000
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]

# ChatML with `{% generation %}` markers around assistant turns, so that TRL's
# `assistant_only_loss=True` can ask the tokenizer for assistant-token masks.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def cache_root() -> Path:
    """Where built models go: ``$PEFTC_CACHE`` or ``~/.cache/peftc``."""
    env = os.environ.get("PEFTC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "peftc"


def _fingerprint() -> str:
    import torch

    h = hashlib.sha256()
    h.update(json.dumps(TINY_LLAMA_CONFIG, sort_keys=True).encode())
    h.update(str(TINY_LLAMA_SEED).encode())
    h.update(json.dumps(PRETRAIN, sort_keys=True).encode())
    h.update(torch.__version__.split("+")[0].encode())
    for name in sorted(p.name for p in ASSETS.iterdir() if p.is_file()):
        h.update(name.encode())
        h.update((ASSETS / name).read_bytes())
    return h.hexdigest()[:12]


def resolve_model_path(name_or_path: str) -> str:
    """Map ``peftc:tiny-llama`` to its built folder (building it if needed); pass others through."""
    if name_or_path != TINY_LLAMA:
        return name_or_path
    return str(ensure_tiny_llama())


def ensure_tiny_llama() -> Path:
    """Build the tiny model's weights into the cache once; return the folder."""
    target = cache_root() / f"tiny-llama-{_fingerprint()}"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(ASSETS))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_LLAMA_CONFIG,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_LLAMA_SEED)
        model = LlamaForCausalLM(config)
        pretrain(model, tokenizer)
    model.generation_config.eos_token_id = [
        tokenizer.eos_token_id,
        tokenizer.convert_tokens_to_ids("<|im_end|>"),
    ]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # Build in a private folder, then rename: concurrent first uses never see a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-llama-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def pretraining_text() -> str:
    """English text available offline everywhere: CPython's pydoc topics."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def pretrain(model: Any, tokenizer: Any) -> None:
    """Full-parameter causal-LM training for ``PRETRAIN["steps"]`` steps (seeded by the caller)."""
    import torch

    ids = tokenizer(pretraining_text(), add_special_tokens=False)["input_ids"]
    block = PRETRAIN["block_size"]
    blocks = torch.tensor(ids[: len(ids) // block * block]).view(-1, block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN["learning_rate"])
    model.train()
    for _ in range(PRETRAIN["steps"]):
        batch = blocks[torch.randint(len(blocks), (PRETRAIN["batch_size"],))]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def train_tokenizer(corpus_files: list[Path], out_dir: Path = ASSETS) -> None:
    """Train the shipped byte-level BPE tokenizer (run once; the result is committed)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([str(p) for p in corpus_files], trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=TINY_LLAMA_CONFIG["max_position_embeddings"],
        chat_template=CHAT_TEMPLATE,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
