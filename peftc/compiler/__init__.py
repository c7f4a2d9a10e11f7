"""The compiler: a validated spec -> resolved per-run configs with provenance -> run folders.

Pipeline: `specfile` (load + validate a spec and its `extends` bases) -> `sweep` (expand the
grid) -> `resolve` (layer defaults, profile, task, method, spec, stage, sweep, CLI) ->
`derive` (computed values and semantic checks) -> `runconfig` (the run.yaml sections) ->
`emit` (write OUT atomically). `launchfiles` and `summary` render the DeepSpeed, accelerate,
launch and summary files. Nothing here imports the ML stack.
"""

from peftc.compiler.build import Compiled, compile_spec, resolve_spec

__all__ = ["Compiled", "compile_spec", "resolve_spec"]
