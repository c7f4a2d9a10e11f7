"""peftc: a declarative YAML config compiler for parameter-efficient fine-tuning.

`peftc.schema` defines and checks the spec, `peftc.compiler` resolves it into concrete runs,
`peftc.rules` holds the hyperparameter advisor, `peftc.runtime` trains a compiled run, and
`peftc.cli` is the command line. Only the runtime imports the ML stack, lazily.
"""

__version__ = "0.1.0"
