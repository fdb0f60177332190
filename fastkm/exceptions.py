"""Exceptions and warnings raised by fastkm."""

from __future__ import annotations

import sys

__all__ = ["BackendUnavailableError", "ConvergenceWarning", "NotFittedError", "not_fitted_error"]


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


def not_fitted_error(message: str) -> NotFittedError:
    """A :class:`NotFittedError` that is also scikit-learn's when that is loaded.

    scikit-learn is not a dependency, so fastkm cannot subclass its
    ``NotFittedError`` up front. But code that catches scikit-learn's class
    has imported scikit-learn, so when it is loaded we raise an instance of a
    class deriving from both, and ``except sklearn.exceptions.NotFittedError``
    works as it does for scikit-learn's own estimators.
    """
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return NotFittedError(message)
    global _SklearnNotFittedError
    if _SklearnNotFittedError is None:
        _SklearnNotFittedError = type(
            "NotFittedError", (NotFittedError, sklearn_exceptions.NotFittedError), {"__module__": __name__}
        )
    return _SklearnNotFittedError(message)


_SklearnNotFittedError: type | None = None
