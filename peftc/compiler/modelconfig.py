"""A model's own ``config.json``, read as plain JSON so that lint and compile stay torch-free.

The architecture a spec trains is decided by the model's config (its ``model_type``), not by
its name: SmolLM2 is a Llama, Falcon3 is a Llama, Phi-4 is a Phi-3. The config is looked for in
a local model folder, then in the local Hugging Face cache (the layout ``huggingface_hub``
writes: ``models--org--name/refs/<revision>`` names a snapshot folder), and, only when asked
(``peftc compile --resolve-models``), on the hub. Reading the cache by hand rather than through
``huggingface_hub`` keeps lint free of it; the layout is its documented cache layout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peftc.compiler.paths import find_local
from peftc.limits import PEEK_BYTES
from peftc.vocab.families import BY_MODEL_TYPE

# config.json fields that carry the context length, in the order architectures use them
_CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length",
                   "seq_length", "max_seq_len")
HUB_TIMEOUT = 20  # seconds for one config.json from the hub


@dataclass(frozen=True)
class ModelConfig:
    """The facts of a model's config.json the compiler uses."""

    where: str  # the file (or URL) it was read from
    model_type: str | None
    architectures: tuple[str, ...]
    layers: int | None
    context: int | None
    tied_embeddings: bool | None
    raw: dict[str, Any]

    @property
    def family(self) -> str | None:
        return BY_MODEL_TYPE.get(self.model_type or "")

    def describe(self) -> str:
        """``model_type 'qwen3' (Qwen3ForCausalLM, 28 layers, context 40960) in PATH``."""
        facts = [*self.architectures[:1], *([f"{self.layers} layers"] if self.layers else []),
                 *([f"context {self.context}"] if self.context else [])]
        return (f"model_type {self.model_type!r}" + (f" ({', '.join(facts)})" if facts else "")
                + f" in {self.where}")


def parse(config: dict[str, Any], where: str) -> ModelConfig:
    """The facts of a parsed config.json."""
    context = next((config[k] for k in _CONTEXT_FIELDS if isinstance(config.get(k), int)), None)
    layers = config.get("num_hidden_layers", config.get("n_layer"))
    tied = config.get("tie_word_embeddings")
    return ModelConfig(where, config.get("model_type"),
                       tuple(a for a in config.get("architectures") or () if isinstance(a, str)),
                       layers if isinstance(layers, int) else None, context,
                       tied if isinstance(tied, bool) else None, config)


def hub_cache() -> Path:
    """The Hugging Face hub cache folder, as ``huggingface_hub`` picks it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def _cached(model_id: str, revision: str | None) -> Path | None:
    repo = hub_cache() / ("models--" + model_id.replace("/", "--"))
    if not repo.is_dir():
        return None
    rev = revision or "main"
    ref = repo / "refs" / rev
    try:
        commit = ref.read_text().strip() if ref.is_file() else rev
    except OSError:
        return None
    config = repo / "snapshots" / commit / "config.json"
    return config if config.is_file() else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as f:
            data = json.loads(f.read(PEEK_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def local_config(base_model: str, spec_dir: Path, revision: str | None) -> ModelConfig | None:
    """The config.json of a local model folder or of the hub cache, or None when neither has
    it (or it is not a JSON object)."""
    folder = find_local(base_model, spec_dir)
    path = folder / "config.json" if folder is not None else _cached(base_model, revision)
    if path is None or not path.is_file():
        return None
    config = _read(path)
    return parse(config, str(path)) if config is not None else None


class HubError(Exception):
    """The hub did not give a config.json."""


def hub_config(model_id: str, revision: str | None) -> ModelConfig:
    """A model's config.json from the hub (``HF_ENDPOINT``, with ``HF_TOKEN`` when set)."""
    import urllib.error  # here: urllib.request is a fifth of lint's start-up, and only
    import urllib.request  # `compile --resolve-models` reaches the hub

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/{model_id}/resolve/{revision or 'main'}/config.json"
    request = urllib.request.Request(url)
    if os.environ.get("HF_TOKEN"):
        request.add_header("Authorization", f"Bearer {os.environ['HF_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT) as response:
            data = json.loads(response.read(PEEK_BYTES))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise HubError(f"{url}: {exc}") from exc
    if not isinstance(data, dict):
        raise HubError(f"{url}: not a JSON object")
    return parse(data, url)
