"""`peftc launch`: hand a compiled run to `accelerate launch`, with `peftc run` as the program.

The compiled `accelerate.yaml` decides the distribution (single process, DDP, DeepSpeed,
FSDP, multi-node); the flags override its process counts and rendezvous. The batch numbers of
a run were derived for `num_gpus` processes, so another world size is refused unless
`--allow-world-size-change`, which recomputes gradient accumulation with the compiler's
formula and records it (the runtime reads PEFTC_GRADIENT_ACCUMULATION_STEPS and writes it
into metrics.json with the launch command).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from peftc.diagnostics import ERROR, Diagnostic, PeftcError, UsageError


def _run_dir(args: argparse.Namespace) -> Path:
    if Path(args.target).is_dir():
        return Path(args.target)
    from peftc.runner import compile_for_running

    out, [entry] = compile_for_running(args)
    return out / entry["folder"]


def build_command(run_dir: Path, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The `accelerate launch` command line and the environment it runs with."""
    from peftc.schema import runfile

    run_yaml = run_dir / "run.yaml"
    run = runfile.load(run_dir).data  # a hand-edited run.yaml fails here, not in N processes
    launch, batch = run["launch"], run["batch"]
    compiled_world = launch["num_processes"]
    world = args.num_processes or compiled_world
    env = dict(os.environ)
    if world != compiled_world:
        if not args.allow_world_size_change:
            raise PeftcError(Diagnostic(
                "E604", ERROR, f"run {run['run_id']} was compiled for {compiled_world} "
                f"process(es) (its batch numbers assume it); asked for {world}",
                file=str(run_yaml), hint=f"recompile with --set num_gpus={world}, or pass "
                "--allow-world-size-change to recompute gradient accumulation"), exit_code=1)
        from peftc.compiler.derive import accumulation
        from peftc.runtime.run import WORLD_SIZE_ENV

        target = batch["global_batch_size"] or batch["effective_global_batch_size"]
        accum, formula = accumulation(target, batch["micro_batch_size"], world)
        env["PEFTC_GRADIENT_ACCUMULATION_STEPS"] = str(accum)
        env[WORLD_SIZE_ENV] = str(world)  # the world size the runtime checks against
        sys.stderr.write(f"peftc: world size {compiled_world} -> {world}: "
                         f"gradient_accumulation_steps = {formula} = {accum}\n")
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        raise UsageError("peftc launch needs accelerate: pip install 'peftc[train]'",
                         file=str(run_dir))
    # this interpreter's accelerate, whether or not its venv's bin/ is on PATH
    cmd = [sys.executable, "-m", "accelerate.commands.launch",
           "--config_file", str(run_dir / "accelerate.yaml"),
           "--num_processes", str(world),
           "--num_machines", str(args.num_machines or launch["num_machines"])]
    for flag, value in (("--machine_rank", args.machine_rank),
                        ("--main_process_ip", args.main_process_ip),
                        ("--main_process_port", args.main_process_port)):
        if value is not None:
            cmd += [flag, str(value)]
    if world > 1 and not launch["deepspeed"] and not launch.get("fsdp"):
        cmd.append("--multi_gpu")
    if args.cpu:
        # `accelerate launch --cpu` runs ONE process whatever --num_processes says; this
        # environment variable with --multi_gpu gives a real gloo process group on CPUs.
        env["ACCELERATE_USE_CPU"] = "1"
    cmd += ["-m", "peftc", "run", str(run_dir)]
    env["PEFTC_LAUNCH_COMMAND"] = shlex.join(cmd)
    return cmd, env


def launch_command(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args)
    cmd, env = build_command(run_dir, args)
    sys.stderr.write(f"peftc: {shlex.join(cmd)}\n")
    code = subprocess.call(cmd, env=env)
    if code != 0:
        mark_failed(run_dir, code)
    return code


def mark_failed(run_dir: Path, code: int) -> None:
    """A process of the launch failed: the run failed, whatever the main process last wrote
    (when another rank dies, the launcher kills the main process mid-step)."""
    run = yaml.safe_load((run_dir / "run.yaml").read_text(encoding="utf-8"))
    path = Path(run["output_dir"]) / "status.json"
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    if status.get("status") in ("failed", "interrupted") and code in (1, 130):
        return
    status.update(status="failed", error=f"a process of `accelerate launch` exited with "
                  f"code {code}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
