"""Where a relative path of a spec points: beside the spec first, then in the working directory
(Axolotl's only base), so that an Axolotl config run from its usual folder finds its files."""

from __future__ import annotations

from pathlib import Path

# local file suffixes -> the `datasets` builder that reads them
LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv",
                  ".arrow": "arrow", ".txt": "text"}

# the hint of a diagnostic about a path that is not there
WHERE_HINT = "a relative path is looked for beside the spec, then in the working directory"
# ... and of one that may be there where the run executes (W213)
ELSEWHERE_HINT = ("lint cannot see it from here; `peftc run` and `peftc launch` check it "
                  "before loading the model")


def candidates(path: str, spec_dir: Path) -> list[Path]:
    """The places ``path`` is looked for, in order."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return [p]
    return list(dict.fromkeys([spec_dir / p, Path.cwd() / p]))


def find_local(path: str, spec_dir: Path) -> Path | None:
    """The existing file or folder ``path`` names, or None."""
    return next((p for p in candidates(path, spec_dir) if p.exists()), None)


def looks_local(path: str) -> bool:
    """A path that can only be a local one (not a hub id): it starts with /, . or ~, or ends
    in a data-file suffix."""
    return path.startswith(("/", ".", "~")) or Path(path).suffix.lower() in LOCAL_SUFFIXES


def tried(path: str, spec_dir: Path) -> str:
    """``a nor b``: where ``path`` was looked for, for a diagnostic."""
    return " nor ".join(str(p) for p in candidates(path, spec_dir))


def repository_of(folder: Path) -> Path | None:
    """The git work tree that holds ``folder`` (the nearest parent with ``.git``), or None."""
    folder = folder.resolve()
    return next((p for p in (folder, *folder.parents) if (p / ".git").exists()), None)


def elsewhere(path: str, spec_dir: Path) -> bool:
    """Whether a local path that is missing here may name a file of the machine the run
    executes on (a cluster's /mnt/datasets/...): an absolute or home path, or a relative
    one that leads out of the repository holding the spec. A missing relative path inside
    the repository (or with no repository) is a mistake in the spec."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return True
    repo = repository_of(spec_dir)
    return repo is not None and not (spec_dir / p).resolve().is_relative_to(repo)
