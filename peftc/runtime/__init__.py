"""The peftc training runtime: executes one compiled run (``run.yaml``).

The compiler resolves everything; the runtime only reads ``OUT/runs/<run_id>/run.yaml`` and
follows one recipe, each step a short function over one section of the file::

    load model (model.py) -> apply adapter (adapter.py) -> load data (data.py)
    -> build trainer (trainer.py) -> train -> save (outputs.py)

Every section is passed through to the library constructor it names (transformers, PEFT, TRL,
datasets, bitsandbytes); peftc writes by hand only what no library does (ReLoRA restarts, the
AdaLoRA budget callback, status/metrics files, interrupt handling, sample generation, DPO prompt
truncation) and says so where it does.

Entry points: :func:`peftc.runtime.run.run` and :func:`peftc.runtime.merge.merge`.
This package must stay cheap to import (``peftc lint`` imports nothing heavy): torch,
transformers, peft, trl and datasets are imported inside functions only.
"""
