"""User-facing runtime errors, turned into diagnostics by the CLI."""

from __future__ import annotations


class RuntimeConfigError(Exception):
    """A problem with the run (or the machine it runs on) that the user must fix.

    The message is complete and actionable on its own. ``code`` is its registered code
    (`peftc.codes`); ``field`` the run.yaml field it concerns, dotted (``data.datasets.1``).
    The CLI shows it as a diagnostic at the spec line that set the field (the key table's
    `Key.run` and the run's provenance.json lead there), else at the field in run.yaml.
    """

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    def at(self, field: str) -> RuntimeConfigError:
        """This error, concerning ``field`` unless it names a field already."""
        if self.field is None:
            self.field = field
        return self


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
