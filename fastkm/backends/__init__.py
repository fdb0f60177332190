"""Backend registry: which backends exist, which can run here, and picking one.

>>> from fastkm.backends import get_backend
>>> get_backend("numpy").name
'numpy'
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

from ..exceptions import BackendUnavailableError
from .base import Backend, StepResult, array_namespace, is_cupy_array, is_dask_array

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendStatus",
    "StepResult",
    "array_namespace",
    "available_backends",
    "backend_status",
    "get_backend",
    "is_cupy_array",
    "warmup",
]

logger = logging.getLogger("fastkm")

#: Environment variable that picks the backend when none is given explicitly.
ENV_VAR = "FASTKM_BACKEND"


@dataclass(frozen=True)
class _Entry:
    module: str
    install: str


_REGISTRY: dict[str, _Entry] = {
    "numpy": _Entry("fastkm.backends.numpy_backend", "NumPy is a required dependency: pip install numpy"),
    "numba": _Entry("fastkm.backends.numba_backend", "pip install numba"),
    "cupy": _Entry(
        "fastkm.backends.cupy_backend",
        "pip install 'fastkm[cuda12]' (CUDA 12.x driver) or 'fastkm[cuda13]' (CUDA 13.x driver)",
    ),
    "dask": _Entry("fastkm.backends.dask_backend", "pip install 'fastkm[dask]'"),
}

#: Every name :func:`get_backend` accepts.
BACKEND_NAMES = ("auto", *_REGISTRY)


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend can run here, and why not if it cannot."""

    name: str
    available: bool
    detail: str
    """What runs it when available (e.g. versions); otherwise why not and what to do."""

    def __str__(self) -> str:
        state = "available" if self.available else "unavailable"
        return f"{self.name}: {state} ({self.detail})"


@functools.lru_cache(maxsize=None)
def backend_status(name: str) -> BackendStatus:
    """Probe one registered backend (cached: probing a GPU can be slow).

    >>> backend_status("numpy").available
    True
    """
    entry = _REGISTRY[_check_name(name, allow_auto=False)]
    if importlib.util.find_spec(entry.module) is None:
        return BackendStatus(
            name,
            False,
            f"the {name} kernels are not part of this fastkm release yet; the CPU backends run meanwhile",
        )
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        missing = exc.name or str(exc)
        return BackendStatus(name, False, f"{missing} is not installed: {entry.install}")
    reason = module.unavailable_reason()
    if reason is not None:
        return BackendStatus(name, False, reason)
    describe = getattr(module, "describe", None)
    return BackendStatus(name, True, describe() if describe else "ready")


def available_backends() -> dict[str, BackendStatus]:
    """Status of every registered backend, with the reason for each unavailable one.

    >>> statuses = available_backends()
    >>> sorted(statuses)
    ['cupy', 'dask', 'numba', 'numpy']
    >>> statuses["numpy"].available
    True
    """
    return {name: backend_status(name) for name in _REGISTRY}


def get_backend(name: str | Backend | None = None, X: Any = None, **options: Any) -> Backend:
    """Return a backend instance by name.

    Parameters
    ----------
    name : {"auto", "numpy", "numba", "cupy", "dask"}, Backend instance or None
        ``None`` reads the ``FASTKM_BACKEND`` environment variable and falls
        back to ``"auto"``. ``"auto"`` picks Dask when ``X`` is a Dask array,
        CuPy when it is a CuPy array (or, with a warning, the CPU when the CuPy
        backend cannot run), else Numba when available, else NumPy. For a
        Dask array, ``"numpy"``, ``"numba"`` or ``"cupy"`` name the backend
        each chunk is computed with. A ready-made backend instance is
        returned as it is.
    X : array, optional
        The data, consulted by ``"auto"``.
    **options
        Passed to the backend's constructor (e.g. ``chunk_rows`` for NumPy).

    Raises
    ------
    ValueError
        For an unknown name.
    BackendUnavailableError
        When the backend cannot run here; the message says what to install.

    Examples
    --------
    >>> get_backend("numpy", chunk_rows=4096)
    NumpyBackend(chunk_rows=4096)
    >>> get_backend("tpu")
    Traceback (most recent call last):
    ...
    ValueError: backend must be one of 'auto', 'numpy', 'numba', 'cupy', 'dask', got 'tpu'
    """
    if name is not None and not isinstance(name, str):
        if isinstance(name, Backend):
            return name
        raise TypeError(
            f"backend must be a backend name ({', '.join(map(repr, BACKEND_NAMES))}) "
            f"or a backend instance, got {type(name).__name__}"
        )
    source = "the backend argument"
    if name is None:
        name = os.environ.get(ENV_VAR) or "auto"
        source = f"the {ENV_VAR} environment variable" if ENV_VAR in os.environ else source
    name = _check_name(name, allow_auto=True, source=source)
    if is_dask_array(X) and name != "dask":
        options = {"chunk_backend": None if name == "auto" else name, **options}
        name = "dask"
    if name == "auto":
        name = _auto_choice(X)
    status = backend_status(name)
    if not status.available:
        raise BackendUnavailableError(f"fastkm backend {name!r} is unavailable: {status.detail}")
    module = importlib.import_module(_REGISTRY[name].module)
    backend = module.BACKEND(**options)
    logger.debug("using backend %r", backend)
    return backend


def _check_name(name: str, *, allow_auto: bool, source: str = "the backend argument") -> str:
    valid = BACKEND_NAMES if allow_auto else tuple(_REGISTRY)
    normalized = name.strip().lower() if isinstance(name, str) else name
    if normalized not in valid:
        where = "" if source == "the backend argument" else f" (from {source})"
        raise ValueError(f"backend must be one of {', '.join(map(repr, valid))}, got {name!r}{where}")
    return normalized


def _auto_choice(X: Any) -> str:
    if is_cupy_array(X):
        status = backend_status("cupy")
        if status.available:
            return "cupy"
        warnings.warn(
            f"X is a CuPy array but the cupy backend is unavailable ({status.detail}); "
            "computing on the CPU instead (X is copied to the host)",
            RuntimeWarning,
            stacklevel=3,
        )
    if backend_status("numba").available:
        return "numba"
    return "numpy"


def warmup(backend: str | Backend | None = None) -> float:
    """Compile (or load from Numba's cache) a backend's kernels now, not in the first fit.

    Returns the seconds it took: the cold compile the first time fastkm runs
    on a machine, a fraction of a second afterwards. Backends with nothing to
    compile return 0.

    >>> warmup("numpy")
    0.0
    """
    instance = get_backend(backend)
    module = importlib.import_module(_REGISTRY[instance.name].module)
    compile_kernels = getattr(module, "warmup", None)
    return float(compile_kernels()) if compile_kernels else 0.0
