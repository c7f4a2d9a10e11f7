"""User-facing runtime errors, turned into diagnostics by the CLI."""

from __future__ import annotations


class RuntimeConfigError(Exception):
    """A problem with the run (or the machine it runs on) that the user must fix.

    The message is complete and actionable on its own; the CLI shows it as a diagnostic,
    located at the first of ``keys`` that the run's provenance.json places in the spec.
    """

    def __init__(self, message: str, code: str = "E602", keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.keys = keys


class LossError(RuntimeError):
    """The training loss went where the run must not go on; the run stops and is ``failed``
    (its checkpoints stay)."""


class NonFiniteLossError(LossError):
    """Training produced a NaN or infinite loss."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(
            f"loss became {loss} at step {step}: training stopped. Lower the learning rate, "
            "enable gradient clipping (max_grad_norm) or check the data for empty/degenerate rows."
        )
        self.step = step
        self.loss = loss


class LossWatchdogError(LossError):
    """The logged loss stayed above ``loss_watchdog_threshold`` for its patience."""

    def __init__(self, step: int, threshold: float, losses: list[float]) -> None:
        super().__init__(
            f"loss stayed above loss_watchdog_threshold {threshold} for {len(losses)} logged "
            f"losses in a row ({', '.join(f'{x:.4g}' for x in losses)}): training stopped at "
            f"step {step}. Lower the learning rate, or check the data."
        )
        self.step = step
