"""User-facing runtime errors, turned into diagnostics by the CLI."""

from __future__ import annotations


class RuntimeConfigError(Exception):
    """A problem with the run (or the machine it runs on) that the user must fix.

    The message is complete and actionable on its own; the CLI shows it as a diagnostic.
    """

    def __init__(self, message: str, code: str = "E602") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run stops and is marked ``failed``."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(
            f"loss became {loss} at step {step}: training stopped. Lower the learning rate, "
            "enable gradient clipping (max_grad_norm) or check the data for empty/degenerate rows."
        )
        self.step = step
        self.loss = loss
