"""DeepSpeed JSON, accelerate YAML and launch.sh for a run, rendered from Jinja2 templates.

Every batch number is concrete and consistent by construction:
``train_batch_size = micro * accum * world``; precision and gradient clipping equal the
trainer's. A user-supplied DeepSpeed file or mapping gets its "auto" values filled the same
way, and a value that contradicts the run is an error, not a silent override.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any

from peftc.compiler.paths import WHERE_HINT, candidates, find_local, tried
from peftc.compiler.resolved import ResolvedRun
from peftc.diagnostics import ERROR, WARNING, Diagnostic
from peftc.vocab.deepspeed import AXOLOTL_FILES, PRESETS
from peftc.vocab.families import FAMILIES
from peftc.vocab.keys import CLUSTER_DEFAULTS, FSDP_DEFAULTS, FSDP_SWITCHES


@functools.lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("peftc", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    # The shell templates put every value through `sh` (one shell word, whatever it holds);
    # a value in a comment line goes through `comment` (a newline would end the comment)
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    env.filters["comment"] = lambda value: re.sub(r"[\x00-\x1f\x7f]", "?", str(value))
    env.filters["number"] = _number  # a count or a port, in shell arithmetic too
    return env


def _number(value: Any) -> int:
    """An integer, or a refusal to render: shell arithmetic evaluates a variable's text, so
    `a[$(cmd)]` there runs cmd (the schema and argparse make these ints first)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"a shell template got {value!r} where a number goes")
    return value


def render(template: str, /, **context: Any) -> str:
    return _env().get_template(template).render(**context)


def _batch(v: dict[str, Any]) -> dict[str, Any]:
    return {"micro": v["micro_batch_size"], "accum": v["gradient_accumulation_steps"],
            "world": v["num_gpus"]}


def deepspeed_config(run: ResolvedRun, spec_dir: Path) -> tuple[dict[str, Any] | None,
                                                                  list[Diagnostic]]:
    """The run's DeepSpeed config (None when unset), and any contradiction found (errors) or
    substitution made (a warning)."""
    v = run.values
    ds = v.get("deepspeed")
    if ds is None:
        return None, []
    f, ln, c = run.loc("deepspeed")
    # bf16/fp16 may be "auto": DeepSpeed's file keeps it, and transformers fills it from the
    # precision the runtime resolves
    common = {**_batch(v), "clip": float(v["max_grad_norm"]), "bf16": v["bf16"],
              "fp16": v["fp16"], "steps_per_print": v["logging_steps"]}
    notes = []
    name = Path(ds).name if isinstance(ds, str) else ""
    if name in AXOLOTL_FILES and ds not in PRESETS and find_local(ds, spec_dir) is None:
        notes.append(Diagnostic(
            "W208", WARNING, f"deepspeed file {ds} is not here (not found: {tried(ds, spec_dir)})"
            f"; it is Axolotl's {name}, so peftc uses its preset '{AXOLOTL_FILES[name]}', "
            "which has the file's ZeRO stage and offload", file=f, line=ln, col=c,
            hint="copy the file here (axolotl fetch deepspeed_configs) to use it as it is"))
        ds = AXOLOTL_FILES[name]
    if isinstance(ds, str) and ds in PRESETS:
        preset = PRESETS[ds]
        return json.loads(render("deepspeed.json.j2", **common, stage=preset.stage,
                                 offload_optimizer=preset.offload_optimizer,
                                 offload_param=preset.offload_param)), notes
    if isinstance(ds, str):
        path = find_local(ds, spec_dir) or candidates(ds, spec_dir)[0]
        try:
            user = json.loads(path.read_text(encoding="utf-8"))
        except OSError:
            where = tried(ds, spec_dir)
            return None, [Diagnostic("E401", ERROR, f"deepspeed must be one of "
                                     f"{', '.join(PRESETS)} or a JSON file; '{ds}' is neither "
                                     f"(not found: {where})", file=f, line=ln, col=c,
                                     hint=WHERE_HINT)]
        except json.JSONDecodeError as exc:
            return None, [Diagnostic("E401", ERROR, f"deepspeed file {ds} is not valid JSON: "
                                     f"{exc.msg} at line {exc.lineno}", file=f, line=ln, col=c)]
    else:
        user = json.loads(json.dumps(ds))
    return _fill(user, common, (f, ln, c))


def _fill(user: dict[str, Any], common: dict[str, Any], loc: tuple[str, int, int]):
    """Replace "auto" with the run's values and report values that contradict it."""
    want = {
        "train_micro_batch_size_per_gpu": common["micro"],
        "gradient_accumulation_steps": common["accum"],
        "train_batch_size": common["micro"] * common["accum"] * common["world"],
        "gradient_clipping": common["clip"],
    }
    problems = []
    for key, value in want.items():
        have = user.get(key, "auto")
        if have == "auto":
            user[key] = value
        elif have != value:
            problems.append(Diagnostic("E402", ERROR, f"deepspeed {key} is {have} but the run "
                                       f"uses {value}", file=loc[0], line=loc[1], col=loc[2],
                                       hint="remove it from the DeepSpeed config or use auto"))
    for prec in ("bf16", "fp16"):
        section = user.setdefault(prec, {})
        enabled = section.get("enabled", "auto")
        if enabled == "auto":
            section["enabled"] = common[prec]
        elif common[prec] != "auto" and bool(enabled) != common[prec]:
            problems.append(Diagnostic("E402", ERROR, f"deepspeed {prec}.enabled is {enabled} "
                                       f"but the run has {prec}: {common[prec]}", file=loc[0],
                                       line=loc[1], col=loc[2]))
    zero = user.setdefault("zero_optimization", {})
    for key, val in list(zero.items()):
        if val == "auto":
            zero.pop(key)
    return user, problems


def zero_stage(config: dict[str, Any] | None) -> int:
    return int((config or {}).get("zero_optimization", {}).get("stage", 0))


def accelerate_yaml(run: ResolvedRun, ds: dict[str, Any] | None, cluster: dict[str, Any],
                    run_dir: Path) -> str:
    """accelerate's launch config; the DeepSpeed file is named by absolute path, because
    accelerate reads it relative to the directory it is launched from."""
    v = run.values
    world = v["num_gpus"]
    fsdp = fsdp_settings(v)
    if ds is not None:
        dist = "DEEPSPEED"
    elif fsdp is not None:
        dist = "FSDP"
    elif world > 1:
        dist = "MULTI_GPU"
    else:
        dist = "NO"
    return render(
        "accelerate.yaml.j2", run_id=run.run_id, distributed_type=dist, num_processes=world,
        num_machines=v["num_machines"], main_process_ip=None,
        main_process_port={**CLUSTER_DEFAULTS, **cluster}["main_process_port"],
        # "auto" precision: "no" here, and transformers sets accelerate's mixed precision from
        # the bf16/fp16 flags the runtime resolves
        mixed_precision="bf16" if v["bf16"] is True else "fp16" if v["fp16"] is True else "no",
        zero_stage=zero_stage(ds), fsdp=fsdp, deepspeed_file=str(run_dir / "deepspeed.json"))




def fsdp_settings(v: dict[str, Any]) -> dict[str, Any] | None:
    """accelerate's FSDP settings (its launch config's fsdp_* keys, unprefixed), or None
    without FSDP: peftc's fsdp mapping (on peftc's defaults) or Axolotl's fsdp list
    (transformers' words, on accelerate's defaults as in Axolotl), then fsdp_config and
    fsdp_version over it; FSDP version 1 unless said (Axolotl pins it), and the family's
    decoder layer as the auto-wrap class when none is named."""
    given, config = v.get("fsdp"), v.get("fsdp_config") or {}
    if given is None and not config and v.get("fsdp_version") is None:
        return None
    if isinstance(given, dict):  # peftc's own
        given = {**FSDP_DEFAULTS, **given}
        out = {"version": 1, "sharding_strategy": given["sharding_strategy"],
               "offload_params": given["offload_params"],
               "state_dict_type": given["state_dict_type"],
               "auto_wrap_policy": "TRANSFORMER_BASED_WRAP" if given["auto_wrap"]
               else "NO_WRAP", "use_orig_params": True, "cpu_ram_efficient_loading": True,
               "sync_module_states": True}
    else:
        out = {"version": 1}
        words = set(given or [])
        strategy = words - set(FSDP_SWITCHES)  # the rest name a sharding strategy
        if strategy:
            out["sharding_strategy"] = strategy.pop().upper()
        if "offload" in words:
            out["offload_params"] = True
        if "auto_wrap" in words:
            out["auto_wrap_policy"] = "TRANSFORMER_BASED_WRAP"
    out.update({k.removeprefix("fsdp_"): value for k, value in config.items()})
    if v.get("fsdp_version") is not None:
        out["version"] = v["fsdp_version"]
    fam = v.get("model_family")
    # an architecture the table does not know: accelerate wraps the model's _no_split_modules
    if out.get("auto_wrap_policy") == "TRANSFORMER_BASED_WRAP" and fam in FAMILIES:
        out.setdefault("transformer_layer_cls_to_wrap", FAMILIES[fam].layer)
    return out


def launch_sh(run: ResolvedRun) -> str:
    return render("launch.sh.j2", run_id=run.run_id)
