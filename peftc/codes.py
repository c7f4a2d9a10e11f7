"""Every diagnostic code the loader, schema check and compiler emit, with its meaning.

Codes are stable: a code is never reused for another problem. E0xx: reading the file;
E1xx: the schema (a spec's, or run.yaml's when the runtime reads it); E2xx: semantic
conflicts in a resolved run; E3xx: extends, sweeps and stages; E4xx: DeepSpeed and launch
files; E5xx: the output folder; E6xx: running. W2xx are compiler warnings; the advisor's
rules (`peftc rules`) use W1xx/E7xx and document themselves.
"""

from collections.abc import Iterable

CODES: dict[str, str] = {
    "E000": "bad command line",
    "E001": "YAML syntax error (including tabs used for indentation)",
    "E002": "duplicate key in a mapping",
    "E003": "file is empty, not UTF-8, or its top level is not a mapping",
    "E004": "document too large after alias expansion, or nested too deep",
    "E005": "file cannot be read",
    "E006": "bad --set override",
    "E100": "unknown key (with a suggestion)",
    "E101": "value of the wrong type (YAML 1.1 booleans like `no` are pointed out)",
    "E102": "value not among the allowed ones (with a suggestion)",
    "E103": "value out of range",
    "E104": "required key missing",
    "E105": "Axolotl key that peftc does not take (the hint says what to do instead)",
    "E106": "a key and its alias both given",
    "E107": "Axolotl key or value that peftc does not support yet (its runtime work is to come)",
    "E207": "unknown train profile",
    "E222": "one wandb_run_id for several runs: they would all log into one W&B run",
    "E301": "extends cycle",
    "E302": "extended file not found",
    "E311": "sweep key is not a setting (or names an unknown stage)",
    "E312": "sweep value invalid for its key",
    "E313": "sweep value listed twice",
    "E314": "paired sweep axes of different lengths",
    "E315": "exclude names a key that is not a sweep axis",
    "E316": "sweep makes more runs than --max-runs allows (counted before expanding it)",
    "E321": "stage depends on an unknown stage",
    "E322": "stages depend on each other in a cycle",
    "E401": "deepspeed is neither a preset nor a readable JSON file",
    "E402": "DeepSpeed config contradicts the run",
    "E501": "output path is not a folder",
    "E502": "output folder not written by peftc",
    "E503": "output folder holds a different compile (use --force)",
    "E403": "SLURM cluster size contradicts the run's num_gpus",
    "E504": "another process wrote the output folder during this compile",
    "E601": "run folder or run.yaml missing or invalid (a value its library rejects; "
            "run.yaml's schema errors are E1xx at their line)",
    "E602": "the machine cannot serve an option of the run (e.g. LoftQ without CUDA)",
    "E603": "training failed",
    "E604": "launch world size differs from the one the batch was derived for",
    "E605": "the processes a run started with differ from the ones it was compiled for",
    "E606": "special tokens new to the vocabulary, but the adapter does not train the "
            "embeddings (found once the tokenizer is loaded)",
    "E607": "an unfrozen_parameters pattern matches no parameter of the model, or only "
            "quantized ones",
    "E608": "the run reports to W&B but wandb is not installed",
    "E609": "rows longer than sequence_len, with excess_length_strategy: raise",
    "E610": "added_tokens_overrides names an id that is not an added token, or a text that is "
            "already another token",
    "E611": "a local file or folder the run reads (a dataset, lora_model_dir, sft_adapter, "
            "resume_from_checkpoint, the adapter to merge) is not on the machine where it "
            "runs; found before the model loads",
    "E612": "a dataset does not fit the run: a row lacks a column of its type or has one of "
            "the wrong shape, its type is not the trainer's, or the datasets format to "
            "different shapes (found when the run loads them, before the model)",
    "E613": "a dataset cannot be loaded, or has no rows in its split",
    "E614": "the chat template is missing, or cannot be masked (it renders no assistant "
            "content where peftc can find it, or nothing after it); eot_tokens not one token",
    "E615": "no rows are left to train or evaluate on (after dropping long rows), or "
            "val_set_size takes them all",
    "E616": "the model or tokenizer cannot be loaded (offline, a hub id needs a local copy)",
    "E617": "the command cannot serve this run (merge of a prompt-learning adapter, preview "
            "of a DPO run)",
    "I401": "cluster.setup: shell lines the SLURM job runs, shown so that reviewers see them",
    "W204": "Axolotl speed or infrastructure key (plugins, kernels, compile) not applied",
    "W205": "Axolotl's deprecated name of a key: taken under its current name",
    "W208": "an Axolotl DeepSpeed file that is not here: its matching preset is used",
    "W211": "--resolve-models could not read the model's config.json from the hub",
    "W215": "a YAML 1.1 boolean word (yes, no, on, off) in a boolean setting: YAML 1.2 tools "
            "read it as text; write true/false (`peftc lint --fix`)",
}

# Errors that judge a sample (a local file's first rows) rather than the run itself: a spec
# may ignore them, and compile then goes on. Every other error blocks (peftc.suppress).
SUPPRESSIBLE: dict[str, str] = {
    "E217": "it reads only the first rows: a role may first appear further down",
}


def suppressible(code: str) -> bool:
    """Whether a finding with ``code`` may be ignored, turned off or given another severity."""
    return not code.startswith("E") or code in SUPPRESSIBLE


def unsuppressible(patterns: Iterable[str]) -> list[str]:
    """The patterns of an ignore list or severity map that name an error code that cannot be
    silenced (a pattern with wildcards or a prefix like ``W1`` is fine: it filters what it can)."""
    return [p for p in patterns
            if len(p) == 4 and p[0].upper() == "E" and p[1:].isdigit() and not suppressible(p)]


def refusal(code: str) -> str:
    return (f"{code} is an error and cannot be ignored or lowered: a run with it would not "
            "train what its spec says; fix the spec instead")


DOC_HEADER = """# Diagnostics

Every problem peftc reports has one format:

```
FILE:LINE:COL: CODE severity: message
  hint: what to do about it
```

`LINE:COL` point at the key or value responsible (for a resolved or derived value: the spec
line that set it). A finding about a sweep says how many runs it affects: `(in 16 of 32 runs)`.
`--format json` gives one object per finding (code, severity, file, line, column, message,
hint, runs_affected, runs_total); `--format github` gives workflow annotations, and
`--format sarif` a SARIF 2.1.0 log for code-scanning uploads (GitHub's
`github/codeql-action/upload-sarif`).

Exit codes: `0` clean or warnings only, `1` errors (or warnings with `--strict`), `2` bad
command line or unreadable file, `3` an internal error (a bug: please report it; set
`PEFTC_DEBUG=1` for the traceback).

`peftc lint` and `peftc compile` report the same findings, filtered the same way
(`# peftc: ignore[CODE]` on the line, `lint: {ignore: [...], severity: {...}}` in the spec,
`[tool.peftc]` in `pyproject.toml`, and lint's `--select`/`--ignore`), and compile stops,
writing nothing, on any error lint reports. Warnings and infos can be ignored, turned off or
raised to errors. Errors cannot be ignored or lowered: an error says the run would not train
what its spec says, and silencing it would only move the failure to the GPU. Naming one in
an ignore list or a severity map is itself an error. The exceptions judge a sample rather
than the run:

{suppressible}
Codes are stable. Checks on a resolved run are rules, each a documented record with an
example that triggers it and one that does not: the advisor's (W1xx, E7xx) and the compiler's
(E2xx, W2xx, I2xx, E4xx). They are listed by `peftc rules`, explained by `peftc explain CODE`,
and documented in [rules.md](rules.md). The other codes are the loader's, the schema check's,
the resolver's (what this machine can reach, a sweep's runs together), the output folder's and
the runtime's:

"""


def render_markdown() -> str:
    """docs/diagnostics.md (`python -m peftc.codes > docs/diagnostics.md`)."""
    rows = "".join(f"| `{code}` | {meaning} |\n" for code, meaning in CODES.items())
    exceptions = "".join(f"- `{code}`: {why}\n" for code, why in SUPPRESSIBLE.items())
    header = DOC_HEADER.replace("{suppressible}", exceptions)
    return header + "| code | meaning |\n| --- | --- |\n" + rows


if __name__ == "__main__":
    print(render_markdown(), end="")
