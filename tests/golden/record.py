"""Compile outputs recorded before a structural change, to prove the change kept behaviour.

``python -m tests.golden.record`` writes, for each spec below, everything ``peftc compile``
emits (with ``--slurm`` for specs that set ``cluster``) into one gzip-compressed text file under
``tests/golden/out/``, files in name order under ``=== name ===`` headers. The output folder is
compiled as ``/golden-out`` and this checkout's root is written ``<ROOT>``, so the record does
not depend on where the repository lives. ``tests/test_golden.py`` compiles again and compares.

Record again only for a deliberate change of output, and say in the commit what changed.
The files are compressed so that a grep of the repository does not wade through them.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OUT = Path("/golden-out")
SPECS = sorted([*(ROOT / "examples").rglob("*.yaml"), *(HERE / "specs").glob("*.yaml")])


def record_path(spec: Path) -> Path:
    name = spec.relative_to(ROOT).with_suffix("").as_posix().replace("/", "--")
    return HERE / "out" / f"{name}.txt.gz"


def outputs(spec: Path) -> str:
    """Every file ``peftc compile`` writes for ``spec``, as one text."""
    from peftc.compiler.build import render_files, resolve_spec
    from peftc.compiler.slurm import sbatch

    cwd, cache = Path.cwd(), os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = str(HERE / "no-hub-cache")  # never a config.json from the cache
    os.chdir(ROOT)  # the manifest names the spec relative to where compile runs
    try:
        compiled = resolve_spec(spec.relative_to(ROOT), None, OUT)
        files = render_files(compiled)
        if compiled.spec.structure.get("cluster"):
            files.update(sbatch(compiled, OUT, None))
    finally:
        os.chdir(cwd)
        if cache is None:
            del os.environ["HF_HUB_CACHE"]
        else:
            os.environ["HF_HUB_CACHE"] = cache
    text = "".join(f"=== {name} ===\n{files[name]}\n" for name in sorted(files))
    return text.replace(str(ROOT), "<ROOT>")


def read(spec: Path) -> str:
    return gzip.decompress(record_path(spec).read_bytes()).decode("utf-8")


def main() -> None:
    for spec in SPECS:
        path = record_path(spec)
        path.parent.mkdir(exist_ok=True)
        # mtime=0: the same outputs give the same bytes, so a re-record without change is no diff
        path.write_bytes(gzip.compress(outputs(spec).encode("utf-8"), mtime=0))
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
