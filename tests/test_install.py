"""What fastkm writes at run time stays out of the installed package, so reinstalling always works.

The failure this guards against: Numba's cache written into
``site-packages/fastkm/backends/__pycache__`` survived ``pip uninstall``, and the
left-over ``site-packages/fastkm`` folder (a namespace package) then shadowed an
editable install: ``from fastkm import __version__`` failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba backend is not installed")

ROOT = Path(__file__).resolve().parent.parent

#: Compiles one small kernel (a cold compile of the big one costs tens of seconds).
_SMALL_KERNEL = (
    "import numpy as np; from fastkm.backends.numba_backend import NumbaBackend; "
    "X = np.arange(40.0).reshape(20, 2); "
    "print(NumbaBackend().labelled_sq_distances(X, X[:2], np.zeros(20, dtype=np.int32)).sum())"
)


def _env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    return {**env, **overrides}


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _kernel_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.suffix in (".nbi", ".nbc"))


def test_kernels_are_cached_in_fastkm_cache_dir_not_in_the_package(tmp_path):
    import fastkm

    package = Path(fastkm.__file__).parent
    before = _kernel_files(package)
    code = _SMALL_KERNEL + "; from fastkm.backends.numba_runtime import numba_cache_dir; print(numba_cache_dir())"
    out = _run([sys.executable, "-c", code], env=_env(FASTKM_CACHE_DIR=str(tmp_path / "cache")), cwd=tmp_path)
    assert Path(out.stdout.split()[-1]) == tmp_path / "cache" / "numba"
    assert _kernel_files(tmp_path / "cache" / "numba"), "no kernel was cached in FASTKM_CACHE_DIR"
    assert _kernel_files(package) == before, "kernels were cached inside the package"


def test_an_unwritable_cache_directory_means_no_cache_and_a_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = "import logging; logging.basicConfig(); " + _SMALL_KERNEL
    out = _run([sys.executable, "-c", code], env=_env(FASTKM_CACHE_DIR=str(blocker)), cwd=tmp_path)
    X = np.arange(40.0).reshape(20, 2)
    assert float(out.stdout.split()[-1]) == ((X - X[0]) ** 2).sum()  # the kernel ran, and right
    assert "cannot write fastkm's kernel cache" in out.stderr and "FASTKM_CACHE_DIR" in out.stderr


@pytest.mark.slow
def test_install_run_reinstall_editable_import_uninstall(tmp_path):
    """README's command 1 then command 2, in miniature: a regular install that runs, then an editable one."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".venv",
                                                                 ".pytest_cache", ".hypothesis", "*.png", "*.gif"))  # fmt: skip
    venv = tmp_path / "venv"
    # A venv of its own for fastkm, seeing this environment's packages (the dependencies, and pip,
    # which builds fastkm in isolation as README's commands do) through a .pth file, but none of
    # its .pth files (which would bring this checkout's own editable install).
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "outer-environment.pth").write_text("\n".join(outer) + "\n")
    pip = [str(python), "-m", "pip", "install", "--no-deps", "-q"]
    env = _env(FASTKM_CACHE_DIR=str(tmp_path / "cache"))

    _run([*pip, str(source)], env=env, cwd=tmp_path)
    out = _run([str(python), "-c", "import fastkm; print(fastkm.__file__); " + _SMALL_KERNEL], env=env, cwd=tmp_path)
    assert Path(out.stdout.split()[0]).is_relative_to(site), "the regular install was not the one imported"
    assert _kernel_files(tmp_path / "cache"), "the run compiled no kernel"
    assert not _kernel_files(site / "fastkm"), "kernels were cached inside the installed package"

    _run([*pip, "-e", str(source)], env=env, cwd=tmp_path)
    assert not (site / "fastkm").exists(), f"the regular install left {sorted((site / 'fastkm').rglob('*'))[:5]}"
    out = _run([str(python), "-c", "import fastkm; from fastkm import __version__; print(fastkm.__file__)"], env=env,
               cwd=tmp_path)  # fmt: skip
    assert Path(out.stdout.strip()).is_relative_to(source), "the editable install was not the one imported"

    _run([str(python), "-m", "pip", "uninstall", "-y", "-q", "fastkm"], env=env, cwd=tmp_path)
    leftovers = [path for path in site.iterdir() if path.name.lower().startswith(("fastkm", "__editable__"))]
    assert not leftovers, f"pip uninstall left {leftovers}"
