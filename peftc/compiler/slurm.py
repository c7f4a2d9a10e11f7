"""`compile --slurm`: a job array per wave of runs, submitted in dependency order.

A wave holds the runs whose dependencies are all in earlier waves (a plain sweep is one
wave). `slurm.sbatch` runs one run per array task, multi-node with `srun` + `accelerate
launch`; `slurm-submit.sh` submits the waves with `afterok` dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peftc.compiler.ids import slug
from peftc.compiler.launchfiles import render
from peftc.diagnostics import ERROR, Diagnostic, PeftcError
from peftc.vocab.keys import CLUSTER_DEFAULTS


def _check_flags(given: dict[str, Any]) -> None:
    """The command line's cluster values pass the schema of the spec's ``cluster:`` (they
    reach the script the same way)."""
    from peftc.schema.validate import validate_value

    for key, value in given.items():
        message = validate_value(("cluster", key), value)
        if message:
            raise PeftcError(Diagnostic("E000", ERROR, f"--{key.replace('_', '-')}: {message}",
                                        file="<command line>"), exit_code=2)


def waves(runs: list[Any]) -> list[list[Any]]:
    level: dict[str, int] = {}
    for run in runs:  # runs come in dependency order
        level[run.run_id] = 1 + max((level[d] for d in run.depends_on), default=-1)
    out: list[list[Any]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for run in runs:
        out[level[run.run_id]].append(run)
    return out


def sbatch(compiled: Any, out: Path, flags: dict[str, Any] | None = None) -> dict[str, str]:
    """The files of the SLURM submission, relative to OUT. ``flags`` (from the command line)
    override the spec's ``cluster:`` section, which overrides the schema's defaults; nodes
    and GPUs per node default to what the runs' batches were derived for."""
    spec = compiled.spec
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    _check_flags(given)
    cluster = {**spec.structure.get("cluster", {}), **given}
    first = compiled.runs[0].values
    nodes = cluster.get("nodes", first["num_machines"])
    gpn = cluster.get("gpus_per_node", max(1, first["num_gpus"] // max(1, nodes)))
    problems = []
    for run in compiled.runs:
        world = run.values["num_gpus"]
        if nodes * gpn != world:
            f, line, col = run.loc("num_gpus")
            problems.append(Diagnostic(
                "E403", ERROR, f"cluster nodes {nodes} x gpus_per_node {gpn} = {nodes * gpn} "
                f"processes, but the run's batch was derived for num_gpus {world}", file=f,
                line=line, col=col, hint="make num_gpus equal nodes x gpus_per_node"))
    if problems:
        raise PeftcError(problems[:1])
    files: dict[str, str] = {}
    wave_info = []
    for k, wave in enumerate(waves(compiled.runs)):
        name = f"slurm/wave-{k}.txt"
        files[name] = "".join(f"runs/{r.run_id}\n" for r in wave)
        wave_info.append({"file": name, "size": len(wave)})
    job = slug(spec.structure.get("name") or spec.path.stem)  # #SBATCH: no quoting
    cluster = {**CLUSTER_DEFAULTS, **cluster}
    files["slurm.sbatch"] = render(
        "slurm.sbatch.j2", spec=spec.file, name=job, nodes=nodes, gpus_per_node=gpn,
        time=cluster["time"], partition=cluster.get("partition"),
        account=cluster.get("account"), qos=cluster.get("qos"),
        cpus_per_task=cluster.get("cpus_per_task"), setup=cluster.get("setup"),
        port=cluster["main_process_port"], first_wave_size=wave_info[0]["size"])
    files["slurm-submit.sh"] = render("slurm-submit.sh.j2", waves=wave_info)
    files["slurm/logs/.keep"] = ""  # sbatch --output needs the folder to exist
    return files
