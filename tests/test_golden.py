"""Every example and every spec in ``tests/golden/specs`` compiles byte for byte to what was
recorded (``tests/golden/record.py``): structural changes must keep the compiler's output."""

from __future__ import annotations

import difflib
import re

import pytest

from tests.golden import record


def _files(text: str) -> dict[str, str]:
    parts = re.split(r"^=== (.+) ===\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("spec", record.SPECS, ids=lambda p: record.record_path(p).name)
def test_compiles_as_recorded(spec):
    before, now = _files(record.read(spec)), _files(record.outputs(spec))
    assert sorted(now) == sorted(before), "a different set of files"
    changed = [name for name in before if now[name] != before[name]]
    diff = []
    for name in changed[:3]:
        diff += difflib.unified_diff(before[name].splitlines(), now[name].splitlines(),
                                     f"recorded/{name}", f"now/{name}", lineterm="", n=1)
    assert not changed, f"{len(changed)} file(s) changed:\n" + "\n".join(diff[:80])


def test_every_spec_is_recorded():
    recorded = {p.name for p in (record.HERE / "out").glob("*.txt.gz")}
    assert recorded == {record.record_path(s).name for s in record.SPECS}
