"""What the local things a spec names say, read on this machine within bounds: a LoRA
adapter folder (its adapter_config.json) and a chat template (a name, or Jinja text or a file
holding it; parsed, never rendered).

derive takes values from them; the rules (E214, E221, W209, W213) say when they cannot be read
or disagree with the spec. Both call these readers, so the two never read a file differently.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from peftc.compiler.paths import elsewhere, find_local, tried
from peftc.compiler.stages import refers
from peftc.limits import PEEK_BYTES
from peftc.vocab.chat_templates import FALLBACK, JINJA, NAMED, TOKENIZER_DEFAULT
from peftc.vocab.datasets import Trainer
from peftc.vocab.keys import KEYS
from peftc.vocab.methods import METHODS

if TYPE_CHECKING:
    from peftc.compiler.resolved import ResolvedRun

# the spec's keys an adapter's adapter_config.json decides, with their PEFT field (the last
# part of the key's run.yaml field, adapter.config.<field>)
ADAPTER_FIELDS = tuple((key, KEYS[key].run.rsplit(".", 1)[-1]) for key in (
    "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "peft_use_dora",
    "peft_use_rslora", "lora_modules_to_save"))


class AdapterDir(NamedTuple):
    """What lora_model_dir holds, as far as this machine can tell."""

    config: dict[str, Any] | None = None  # its adapter_config.json: a LoRA adapter's
    problem: str | None = None  # why it is not a LoRA adapter (rule E221)
    elsewhere: bool = False  # not here, but it may be where the run executes (rule W213)


def adapter_dir(given: str, spec_dir: Path) -> AdapterDir:
    """Read lora_model_dir's adapter_config.json (bounded, as peek reads)."""
    found = find_local(given, spec_dir)
    if found is None and elsewhere(given, spec_dir):
        return AdapterDir(elsewhere=True)
    config_file = found / "adapter_config.json" if found else None
    if config_file is None or not config_file.is_file():
        where = tried(given, spec_dir) if found is None else str(found)
        return AdapterDir(problem="lora_model_dir: no PEFT adapter (adapter_config.json) at "
                          f"{where}")
    try:
        with config_file.open("rb") as f:
            config = json.loads(f.read(PEEK_BYTES))
    except (OSError, ValueError) as exc:
        return AdapterDir(problem=f"lora_model_dir: cannot read {config_file}: {exc}")
    kind = config.get("peft_type") if isinstance(config, dict) else None
    if kind != "LORA":
        return AdapterDir(problem=f"lora_model_dir holds an adapter of type {kind}, not a "
                          "LoRA one")
    return AdapterDir(config=config)


def from_stage(run: ResolvedRun, key: str) -> bool:
    """``key`` names an earlier stage's value (``${stages.sft.output_dir}``): a path there once
    that stage has run, not one to look for now. Read from the value as the layers gave it,
    so that it holds before and after the reference is resolved."""
    given = run.layered(key)
    return given is not None and refers(given[1])


def continued_adapter(run: ResolvedRun) -> dict[str, Any] | None:
    """The adapter_config.json of the LoRA adapter a run goes on training (lora_model_dir),
    when it is here and readable: its values are the run's (derive takes them, rule W209 says
    where the spec differs). None otherwise, and for DPO, which merges that adapter into the
    base and trains a fresh one."""
    v = run.values
    given = v.get("lora_model_dir")
    if not given or not METHODS[v["adapter"]].lora or from_stage(run, "lora_model_dir") or \
            Trainer.of(v.get("rl")) is Trainer.DPO:
        return None
    return adapter_dir(given, run.spec_dir).config


def same_as_adapter(field: str, theirs: Any, mine: Any) -> bool:
    """Whether the spec's value ``mine`` says what the adapter's ``theirs`` does."""
    if isinstance(theirs, list) and isinstance(mine, list):
        return sorted(theirs) == sorted(mine)
    return theirs == mine or (field in ("use_dora", "use_rslora") and not theirs and not mine)


def read_template(template: str, jinja: str | None, spec_dir: Path
                  ) -> tuple[str | None, tuple[str, bool] | None]:
    """``template`` as the runtime takes it: tokenizer_default, a name, a fallback, or Jinja
    text (``jinja``: chat_template_jinja's text, or the file it names). Else None and why:
    (the message, whether chat_template_jinja is the one at fault), which rule E214 reports.
    Jinja is parsed here, never rendered."""
    if template == TOKENIZER_DEFAULT or template in NAMED:
        return template, None
    if template.startswith(FALLBACK):
        if template[len(FALLBACK):] not in NAMED:
            return None, (f"chat_template {template!r} falls back to an unknown template (use "
                          f"{FALLBACK}<name>, <name> one of {', '.join(NAMED)})", False)
        return template, None
    if template != JINJA:
        if not looks_like_jinja(template):
            return None, (f"chat_template {template!r} is neither a template name "
                          f"({TOKENIZER_DEFAULT}, {', '.join(NAMED)}) nor a Jinja template",
                          False)
        return _parsed(template, "chat_template", False)
    if not jinja:
        return None, ("chat_template: jinja needs chat_template_jinja (the template, or a "
                      "file holding it)", False)
    if not looks_like_jinja(jinja):
        path = find_local(jinja, spec_dir)
        if path is None or not path.is_file():
            return None, (f"chat_template_jinja {jinja!r} is neither a Jinja template nor a "
                          f"file (not found: {tried(jinja, spec_dir)})", True)
        jinja = path.read_text(encoding="utf-8")
    return _parsed(jinja, "chat_template_jinja", True)


def looks_like_jinja(text: str) -> bool:
    return "{{" in text or "{%" in text


def _parsed(text: str, key: str, on_jinja: bool) -> tuple[str | None, tuple[str, bool] | None]:
    error = _syntax_error(text)
    if error is None:
        return text, None
    return None, (f"{key}: the Jinja template does not parse: {error}", on_jinja)


@functools.lru_cache(maxsize=32)  # derive and rule E214 read each run's template: parse once
def _syntax_error(text: str) -> str | None:
    import jinja2.sandbox

    try:
        jinja2.sandbox.ImmutableSandboxedEnvironment().parse(text)
        return None
    except jinja2.TemplateSyntaxError as exc:
        return f"{exc.message} (its line {exc.lineno})"
