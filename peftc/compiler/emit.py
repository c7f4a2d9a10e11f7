"""Write a compiled sweep to OUT: all of it or nothing, and never a needless rewrite.

Every file is rendered in memory first. A new OUT is written to a temporary sibling and
renamed into place, so an interrupted compile leaves no half-written folder. An existing OUT
whose compiled files are byte-identical is left untouched; one that differs is replaced only
with ``force`` (and the training outputs under ``runs/*/output`` are carried over).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from peftc.diagnostics import ERROR, Diagnostic, PeftcError

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
COMPILED_LIST = ".peftc-compiled"  # names the compiled files, so outputs are told apart


def dump_yaml(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100)


class SectionCache:
    """Dumps run.yaml two levels deep, reusing the text of every entry seen before.

    In a sweep most entries (the model, the data, most trainer settings) repeat across runs,
    and PyYAML's representer is the compiler's hottest spot: each distinct entry is dumped
    once and the run's file is assembled from the pieces, byte-identical to one yaml.dump.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def _entry(self, key: str, value: object) -> str:
        ident = f"{key}\0{value!r}"
        text = self._seen.get(ident)
        if text is None:
            text = dump_yaml({key: value})
            self._seen[ident] = text
        return text

    def dump(self, data: dict[str, object]) -> str:
        parts = []
        for key, value in data.items():
            if isinstance(value, dict) and value:
                parts.append(f"{key}:\n")
                for sub, subval in value.items():
                    parts.extend("  " + line for line in self._entry(sub, subval).splitlines(
                        keepends=True))
            else:
                parts.append(self._entry(key, value))
        return "".join(parts)


def dump_json(data: object) -> str:
    """Pretty JSON: one top-level key per line, nested values compact (C encoder, fast)."""
    if isinstance(data, dict) and data:
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
        return "{\n" + body + "\n}\n"
    return json.dumps(data) + "\n"


def dump_json_pretty(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


@dataclass
class WriteResult:
    out: Path
    status: str  # "written", "unchanged", "replaced"
    files: int


def _existing(out: Path) -> dict[str, bytes] | None:
    listing = out / COMPILED_LIST
    if not listing.exists():
        return None
    files = {}
    for rel in listing.read_text(encoding="utf-8").splitlines():
        path = out / rel
        files[rel] = path.read_bytes() if path.exists() else b""
    return files


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUT while it is compared and replaced: concurrent compiles
    into one OUT take turns (the later ones then find it unchanged, or replace it whole). The
    lock is a hidden sibling file, left in place: removing it would race a waiting compile."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the rename below still fails cleanly
        yield
        return
    with open(out.parent / f".{out.name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_tree(out: Path, files: dict[str, str], *, force: bool = False,
               executable: frozenset[str] = frozenset()) -> WriteResult:
    """Write ``files`` (relative path -> text) under ``out`` atomically."""
    with _locked(out):
        try:
            return _write_tree(out, files, force, executable)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise PeftcError(Diagnostic(  # another writer that does not take the lock
                "E504", ERROR, f"{out} was written by another process while this compile "
                "wrote it; it holds the other one's compile", file=str(out),
                hint="compile again once the other writer is done"), exit_code=1) from None


def _write_tree(out: Path, files: dict[str, str], force: bool,
                executable: frozenset[str]) -> WriteResult:
    encoded = {rel: text.encode("utf-8") for rel, text in sorted(files.items())}
    encoded[COMPILED_LIST] = ("\n".join(sorted(files)) + "\n").encode("utf-8")
    status = "written"
    if out.exists():
        if not out.is_dir():
            raise PeftcError(Diagnostic("E501", ERROR, f"output path {out} exists and is not "
                                        "a folder", file=str(out)), exit_code=2)
        existing = _existing(out)
        if existing is not None and existing == {k: v for k, v in encoded.items()
                                                 if k != COMPILED_LIST}:
            return WriteResult(out, "unchanged", len(files))
        if existing is None and any(out.iterdir()):
            if not force:
                raise PeftcError(Diagnostic(
                    "E502", ERROR, f"{out} is not empty and was not written by peftc compile",
                    file=str(out), hint="choose another -o, or pass --force to replace it"),
                    exit_code=1)
        elif existing is not None and not force:
            raise PeftcError(Diagnostic(
                "E503", ERROR, f"{out} holds a different compile of this or another spec",
                file=str(out), hint="pass --force to replace it (training outputs are kept)"),
                exit_code=1)
        status = "replaced"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; OUT should look like any folder
    try:
        _write_all(tmp, encoded, executable)
        if status == "replaced":
            _carry_outputs(out, tmp)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WriteResult(out, status, len(files))


def _write_all(root: Path, files: dict[str, bytes], executable: frozenset[str]) -> None:
    """Write files with a few threads: a large sweep is thousands of small files, and the
    time goes to the file system, not to Python."""
    from concurrent.futures import ThreadPoolExecutor

    folders = sorted({os.path.dirname(rel) for rel in files})
    for folder in folders:
        os.makedirs(root / folder, exist_ok=True)

    def write(rel: str) -> None:
        path = root / rel
        path.write_bytes(files[rel])
        if rel in executable:
            path.chmod(0o755)

    if len(files) < 64:
        for rel in files:
            write(rel)
        return
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, files))


def _carry_outputs(old: Path, new: Path) -> None:
    """Move training outputs (anything not compiled) of the old tree into the new one."""
    runs = old / "runs"
    if not runs.is_dir():
        return
    compiled = set((old / COMPILED_LIST).read_text(encoding="utf-8").splitlines()) if (
        old / COMPILED_LIST).exists() else set()
    for run_dir in runs.iterdir():
        if not run_dir.is_dir():
            continue
        for child in run_dir.iterdir():
            rel = f"runs/{run_dir.name}/{child.name}"
            if rel in compiled:
                continue
            dest = new / rel
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(child, dest)
