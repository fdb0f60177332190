"""Running the Numba kernels safely in any process: their cache, threading layer, threads and BLAS.

The Numba backend's kernels are declared with :func:`kernel`, which takes
care of four things once, for every kernel:

* **Where compiled kernels are cached.** Never inside the installed package
  (a reinstall or ``pip uninstall`` would leave them behind, and a stale
  ``site-packages/fastkm`` folder then shadows a new install), but in a
  per-user cache directory, :func:`numba_cache_dir`:
  ``$FASTKM_CACHE_DIR/numba`` if that variable is set, else Numba's own
  ``$NUMBA_CACHE_DIR`` if set, else ``~/.cache/fastkm/numba`` on Linux
  (``$XDG_CACHE_HOME`` respected), ``~/Library/Caches/fastkm/numba`` on macOS
  and ``%LOCALAPPDATA%\\fastkm\\Cache\\numba`` on Windows. If that directory
  cannot be written, kernels are compiled in every process instead (a
  warning says so) -- never cached anywhere else.
* **Which threading layer runs them.** Numba prefers TBB, which is safe both
  for concurrent calls from several threads and after ``fork``; fastkm
  depends on the ``tbb`` package where it has wheels (x86-64) and makes pip's
  copy of the library loadable (pip installs it where the dynamic loader does
  not look). Where TBB is missing Numba falls back to OpenMP or to its
  ``workqueue`` layer, and fastkm makes those safe too:
* **Concurrent calls.** The ``workqueue`` layer aborts the process when two
  threads enter parallel code at once, so under it fastkm's kernel calls take
  a process-wide lock (they run one at a time; each still uses every thread).
  TBB and OpenMP need no lock.
* **Fork.** A process that ran GNU OpenMP parallel code cannot use OpenMP again
  in a forked child (the child would abort). In such a child, fastkm runs a
  serial compilation of each kernel instead (same code, same row partition,
  so the same results; compiled once and cached like the others).

The number of Numba threads is set per calling thread and restored after each
call; BLAS is limited to one thread while fastkm's threads call it, and its
original limits come back when the last of any overlapping calls ends
(:func:`single_threaded_blas`).

>>> from fastkm.backends.numba_runtime import numba_cache_dir
>>> print(numba_cache_dir())  # doctest: +SKIP
/home/you/.cache/fastkm/numba
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.metadata
import logging
import os
import re
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import numba

__all__ = ["CACHE_DIR_ENV", "kernel", "numba_cache_dir", "single_threaded_blas", "threading_layer"]

logger = logging.getLogger("fastkm")

#: Environment variable naming fastkm's cache directory (its Numba kernels go in ``numba/`` below it).
CACHE_DIR_ENV = "FASTKM_CACHE_DIR"


# -- the cache ---------------------------------------------------------------------------
def numba_cache_dir() -> Path:
    """The directory fastkm's compiled Numba kernels are cached in (see the module docstring)."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root).expanduser() / "numba"
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if numba_dir:
        return Path(numba_dir).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "fastkm" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "fastkm"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastkm"
    return base / "numba"


@functools.lru_cache(maxsize=None)
def _writable_cache_dir() -> str | None:
    """:func:`numba_cache_dir` if it can be created and written to, else None (warned once)."""
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        logger.warning(
            "cannot write fastkm's kernel cache in %s (%s): kernels will be compiled in every process; "
            "set %s to a writable directory to cache them",
            path, exc, CACHE_DIR_ENV,
        )  # fmt: skip
        return None
    return str(path)


@contextlib.contextmanager
def _numba_cache_location() -> Iterator[bool]:
    """Point Numba's cache at fastkm's directory while kernels are declared; yield whether to cache.

    Numba picks a function's cache directory when the function is declared
    (from ``numba.config.CACHE_DIR``), so setting it around the declaration
    affects fastkm's kernels only.
    """
    directory = _writable_cache_dir()
    previous = numba.config.CACHE_DIR
    if directory is not None:
        numba.config.CACHE_DIR = directory
    try:
        yield directory is not None
    finally:
        numba.config.CACHE_DIR = previous


# -- the threading layer --------------------------------------------------------------
_TBB_LIBRARY = re.compile(r"(lib)?tbb(\.so\.12|\.12\.dylib|12\.dll)")


def _load_pip_tbb() -> None:
    """Load the TBB library of pip's ``tbb`` package, so Numba's TBB layer finds it.

    pip puts ``libtbb.so.12`` in ``<prefix>/lib``, where the dynamic loader does
    not look (conda environments do not have this problem); loaded first with
    global symbols, Numba's ``tbbpool`` links against it. Does nothing when the
    package is absent, the user chose another layer, or the layer is running.
    """
    if _running_layer() is not None or str(numba.config.THREADING_LAYER).lower() in ("omp", "workqueue"):
        return
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return
    for file in files:
        if _TBB_LIBRARY.fullmatch(file.name):
            try:
                ctypes.CDLL(str(file.locate()), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError as exc:
                logger.debug("could not load TBB from %s: %s", file.locate(), exc)
            return


def _running_layer() -> str | None:
    """The threading layer Numba runs, or None if it has not started one yet."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


@functools.lru_cache(maxsize=None)
def threading_layer() -> str:
    """The threading layer Numba uses in this process (``"tbb"``, ``"omp"`` or ``"workqueue"``), starting it if needed."""
    _load_pip_tbb()
    numba.get_num_threads()  # starts Numba's threads: the layer is chosen now
    return numba.threading_layer()


def _uses_gnu_openmp() -> bool:
    if _running_layer() != "omp":
        return False
    from numba.np.ufunc import omppool

    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


class _ProcessState:
    """What a forked child must know about its parent's use of the threading layer."""

    serial_only = False
    """Set in a child forked from a process that ran GNU OpenMP: OpenMP would abort here."""
    workqueue_lock = threading.RLock()


def _after_fork_in_child() -> None:
    if _uses_gnu_openmp():
        _ProcessState.serial_only = True
    _ProcessState.workqueue_lock = threading.RLock()  # a lock held by a parent's thread is never released here
    _blas.reset_after_fork()


# -- kernels ------------------------------------------------------------------------------
class Kernel:
    """A parallel Numba kernel that is cached in fastkm's directory and safe to call from anywhere.

    Calls go to the parallel compilation, under a lock when the threading
    layer is ``workqueue``; in a child forked from a GNU OpenMP process, to a
    serial compilation of the same function (see the module docstring).
    """

    def __init__(self, py_func: Callable[..., Any], options: dict[str, Any]):
        functools.update_wrapper(self, py_func)
        self._options = options
        with _numba_cache_location() as cache:
            self.parallel = numba.njit(parallel=True, cache=cache, **options)(py_func)
        self._serial: Any = None

    @property
    def signatures(self) -> list:
        """The signatures compiled so far (parallel compilation)."""
        return self.parallel.signatures

    @property
    def serial(self) -> Any:
        """The kernel compiled without threads (for forked children of GNU OpenMP processes)."""
        if self._serial is None:
            py_func = self.parallel.py_func
            # A function of its own name: Numba's cache keys on the name, not the options.
            twin = types.FunctionType(py_func.__code__, py_func.__globals__, py_func.__name__, py_func.__defaults__,
                                      py_func.__closure__)  # fmt: skip
            twin.__qualname__ = f"{py_func.__qualname__}_serial"
            with _numba_cache_location() as cache:
                self._serial = numba.njit(cache=cache, **self._options)(twin)
        return self._serial

    def __call__(self, *args: Any) -> Any:
        if _ProcessState.serial_only:
            return self.serial(*args)
        if threading_layer() == "workqueue":
            with _ProcessState.workqueue_lock:
                return self.parallel(*args)
        return self.parallel(*args)


def kernel(**options: Any) -> Callable[[Callable[..., Any]], Kernel]:
    """Declare a parallel kernel: ``@kernel(fastmath=...)`` in place of ``@njit(parallel=True, cache=True)``."""

    def declare(py_func: Callable[..., Any]) -> Kernel:
        return Kernel(py_func, options)

    return declare


# -- BLAS ---------------------------------------------------------------------------------------
class _SingleThreadedBlas:
    """BLAS limited to one thread while any fastkm call needs it, restored when the last one ends.

    ``threadpoolctl``'s limiter restores what it saw on entry, so two
    overlapping calls would restore in the wrong order (the second leaves BLAS
    at one thread for good). Here the first call in saves and limits, the last
    call out restores.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None
        self._controller: Any = None

    @contextlib.contextmanager
    def __call__(self, active: bool = True) -> Iterator[None]:
        if not active:
            yield
            return
        with self._lock:
            if self._users == 0:
                self._limiter = self._get_controller().limit(limits=1, user_api="blas")
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None

    def _get_controller(self) -> Any:
        if self._controller is None:
            import scipy.linalg.cython_blas  # noqa: F401  (load Numba's BLAS before looking for it)
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()
        return self._controller

    def reset_after_fork(self) -> None:
        """In a forked child: no call of the parent's threads is running here any more."""
        self._lock = threading.Lock()
        if self._users and self._limiter is not None:
            self._limiter.restore_original_limits()
        self._users, self._limiter = 0, None


_blas = _SingleThreadedBlas()

#: ``with single_threaded_blas(active):`` -- BLAS on one thread inside the block when ``active``
#: (each of our threads calls it: no oversubscription).
single_threaded_blas = _blas


_load_pip_tbb()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
