"""Cold wall time of `peftc lint` next to the floor of importing yaml + jsonschema.

Prints, for each case, the median of N cold processes and the ratio to the floor. Goal: lint
of one example within 1.5x of `python -c "import yaml, jsonschema"`; the 32-run example sweep
close to that, with the advisor's rules adding under 50 ms. Then 200 specs linted by one
process, as pre-commit passes a repository's files: milliseconds per spec.

    python bench/lint_latency.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cold(cases: list[list[str]], repeat: int) -> list[float]:
    """The median wall time of each command, run as a fresh process ``repeat`` times. The
    cases take turns, one round at a time, so that the machine's drift (this is a shared
    2-core box) falls on every case alike instead of on whichever ran during a slow spell."""
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(repeat):
        for i, cmd in enumerate(cases):
            start = time.perf_counter()
            subprocess.run(cmd, check=False, capture_output=True, cwd=ROOT)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def many_specs(folder: Path, count: int) -> list[str]:
    """``count`` specs in one folder, the examples taken in turn (a repository's specs, as
    pre-commit passes them to one lint process)."""
    import shutil

    shutil.copytree(ROOT / "examples" / "data", folder / "data")
    sources = [ROOT / "examples" / n for n in ("quickstart.yaml", "pipelines/tiny-sft-dpo.yaml",
                                               "qwen2.5-7b/sft-dpo.yaml",
                                               "sweeps/paper-ift.yaml")]
    texts = [p.read_text(encoding="utf-8") for p in sources]
    texts[0] = texts[0].replace("path: data/", "path: ../data/")
    (folder / "specs").mkdir()
    out = []
    for i in range(count):
        path = folder / "specs" / f"spec-{i:03d}.yaml"
        path.write_text(f"# spec {i}\n" + texts[i % len(texts)], encoding="utf-8")
        out.append(str(path))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    n = ap.parse_args().repeat
    py = sys.executable
    # A pip install byte-compiles the package; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module on every run.
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "peftc")], check=True)
    quick = str(ROOT / "examples" / "quickstart.yaml")
    sweep = str(ROOT / "examples" / "sweeps" / "paper-ift.yaml")
    no_rules = ("import sys; from peftc.lint import LintConfig, lint_file; "
                "import peftc.rules as r; r.check_runs = lambda *a: []; "
                "import peftc.lint as l; lint_file(sys.argv[1], LintConfig())")
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="peftc-bench-"))
    many = many_specs(scratch, 200)
    cases = [
        ("python -c 'import yaml, jsonschema' (floor)", [py, "-c", "import yaml, jsonschema"]),
        ("peftc lint examples/quickstart.yaml", [py, "-m", "peftc", "lint", quick]),
        ("peftc lint examples/sweeps/paper-ift.yaml (32 runs)",
         [py, "-m", "peftc", "lint", sweep]),
        ("  same sweep, rules disabled", [py, "-c", no_rules, sweep]),
        ("peftc lint specs/*.yaml (200 specs, one process)", [py, "-m", "peftc", "lint", *many]),
    ]
    medians = cold([cmd for _, cmd in cases], n)
    floor = medians[0]
    print(f"{'case':<56} {'median s':>9} {'x floor':>8}")
    for (name, _), t in zip(cases, medians, strict=True):
        print(f"{name:<56} {t:>9.3f} {t / floor:>8.2f}")
    print(f"rules cost on the sweep: {(medians[2] - medians[3]) * 1000:.1f} ms")
    per_spec = (medians[4] - floor) / len(many) * 1000
    print(f"200 specs in one process: {medians[4] / len(many) * 1000:.1f} ms per spec "
          f"with the start-up, {per_spec:.1f} ms per spec above the floor")
    import shutil

    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
