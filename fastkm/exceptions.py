"""Exceptions and warnings raised by fastkm."""

from __future__ import annotations

__all__ = ["BackendUnavailableError", "ConvergenceWarning", "NotFittedError"]


class BackendUnavailableError(RuntimeError):
    """A backend was asked for by name but cannot run here.

    The message says why (a missing package, no GPU, ...) and what to install.
    """


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, as scikit-learn's
    ``NotFittedError`` does, so code written against scikit-learn keeps working.
    """


class ConvergenceWarning(UserWarning):
    """The result is valid but weaker than asked for.

    For example: fewer distinct clusters were found than ``n_clusters``
    (duplicate points), so some centroids coincide.
    """
