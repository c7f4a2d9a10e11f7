"""The bounds that keep `peftc lint` and `compile` finite on any spec (promise 3: a spec is
safe to lint like code). A spec past one is refused with a located error before the work it
asks for is done. Kept here, free of imports, so that `--help` can show them cheaply."""

MAX_NODES = 100_000  # YAML values after alias expansion (a "billion laughs" file: E004)
MAX_DEPTH = 64  # nesting of YAML collections (E004)
MAX_RUNS = 100_000  # runs of a sweep, counted before it is expanded (E316; --max-runs)
PEEK_ROWS = 100  # rows of a local JSONL dataset lint reads to check roles_to_train (E217)
PEEK_BYTES = 1_000_000  # ... and at most this much of the file
EXACT_EXCLUDES = 12  # up to this many `exclude:` entries the run count is exact (2^n terms)

# `peftc smoke`: rows of each dataset and optimizer steps per stage on the CPU stand-in
SMOKE_ROWS, SMOKE_STEPS = 16, 2
