"""Shared by the lint-rule tests: write a small spec (a quiet base plus a snippet appended
verbatim, so line numbers are predictable) and lint it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from peftc.diagnostics import Diagnostic
from peftc.lint import LintConfig, lint_file

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"

# a run that trips no rule: LoRA on the tiny model, lr 2e-4, 12 warmup steps of 60, batch 16
BASE: dict = {
    "base_model": "peftc:tiny-llama",
    "profile": "none",
    "datasets": [{"path": "data/alpaca.jsonl", "type": "alpaca"}],
    "val_set_size": 0.1,
    "sequence_len": 256,
    "micro_batch_size": 8,
    "gradient_accumulation_steps": 2,
    "max_steps": 60,
    "learning_rate": 2.0e-4,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.2,
    "lora_r": 8,
    "lora_alpha": 16,
}
PREFERENCE = [{"path": "data/preference.jsonl", "type": "preference"}]


def prepare_data(folder: Path) -> None:
    data = folder / "data"
    data.mkdir(exist_ok=True)
    for name in ("alpaca.jsonl", "preference.jsonl", "chat.jsonl"):
        shutil.copy(DATA / name, data / name)
    rows = (DATA / "alpaca.jsonl").read_text(encoding="utf-8").splitlines()
    (data / "200-rows.jsonl").write_text("\n".join(rows[:200]) + "\n", encoding="utf-8")
    adapter = data / "adapter"  # a saved LoRA adapter, to go on training (lora_model_dir)
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "lora_alpha": 16}',
                                                 encoding="utf-8")
    model = data / "qwen2-model"  # a local model folder: its config.json is at hand
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text('{"model_type": "qwen2", "tie_word_embeddings": true, '
                                       '"max_position_embeddings": 32768}', encoding="utf-8")


class SpecWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        prepare_data(folder)
        self.text = ""
        self.path = folder / "spec.yaml"

    def write(self, snippet: str, base: dict | None = None, name: str = "spec.yaml") -> Path:
        """The base (minus the keys the snippet sets) followed by the snippet as written."""
        data = yaml.safe_load(snippet) or {}
        base = dict(BASE if base is None else base)
        if data.get("rl") == "dpo":
            base["datasets"] = PREFERENCE
        for key in data:
            base.pop(key, None)
        if "global_batch_size" in data:
            base.pop("gradient_accumulation_steps", None)
        head = yaml.safe_dump(base, sort_keys=False) if base else ""
        self.text = head + snippet.strip("\n") + "\n"
        self.path = self.folder / name
        self.path.write_text(self.text, encoding="utf-8")
        return self.path

    def lint(self, snippet: str | None = None, **config) -> list[Diagnostic]:
        if snippet is not None:
            self.write(snippet)
        return lint_file(str(self.path), LintConfig(**config))

    def codes(self, snippet: str | None = None, **config) -> set[str]:
        return {d.code for d in self.lint(snippet, **config)}

    def only(self, code: str, snippet: str | None = None, **config) -> Diagnostic:
        """The single finding of ``code``."""
        found = [d for d in self.lint(snippet, **config) if d.code == code]
        assert len(found) == 1, found
        return found[0]

    def value_pos(self, key: str, nth: int = 0) -> tuple[int, int]:
        """(line, column) of the value of the nth line that sets ``key`` (``a.b``: the value
        of ``b`` inside the mapping of ``a``, block or flow style)."""
        if "." in key:
            parent, sub = key.split(".", 1)
            line, _ = self.value_pos(parent, nth)
            lines = self.text.splitlines()
            for i in range(line - 1, len(lines)):
                text = lines[i]
                at = text.find(f"{sub}:")
                if at >= 0:
                    after = at + len(sub) + 1
                    while text[after] == " ":
                        after += 1
                    return (i + 1, after + 1)
            raise AssertionError(f"{key} not in spec")
        hits = []
        lines = self.text.splitlines()
        for i, line in enumerate(lines, start=1):
            stripped = line.lstrip(" -")
            if stripped.startswith(f"{key}:"):
                after = line.index(f"{key}:") + len(key) + 1
                while after < len(line) and line[after] == " ":
                    after += 1
                if after >= len(line) or line[after] == "#":  # block value: its first line
                    nxt = lines[i]
                    hits.append((i + 1, len(nxt) - len(nxt.lstrip(" ")) + 1))
                else:
                    hits.append((i, after + 1))
        return hits[nth]


def check(spec: SpecWriter, code: str, snippet: str, key: str, *numbers: str,
          nth: int = 0) -> Diagnostic:
    """Lint ``snippet``: exactly one ``code`` finding, naming ``numbers``, at ``key``'s value."""
    d = spec.only(code, snippet)
    for n in numbers:
        assert n in d.message, (n, d.message)
    assert (d.line, d.col) == spec.value_pos(key, nth), (d, spec.text)
    assert d.file.endswith("spec.yaml")
    return d


def clean(spec: SpecWriter, code: str, snippet: str) -> None:
    found = [d for d in spec.lint(snippet) if d.code == code]
    assert not found, found
