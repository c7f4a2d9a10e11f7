"""The spec: its JSON Schema (`spec`), the source-mapped YAML loader (`loader`), validation
with located, worded diagnostics (`validate`) and the Markdown key reference (`markdown`).

Nothing here imports anything but pyyaml, jsonschema and the standard library.
"""
