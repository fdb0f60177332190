"""Every CUDA kernel compiles with nvcc for sm_80 and sm_90, without register spills.

Runs wherever nvcc is (the CI machine has it, no GPU needed). The kernels
compiled are exactly the name expressions CuPy instantiates at run time
(``cupy_backend.KERNELS``), so the two lists cannot drift apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fastkm.backends.cupy_backend import KERNELS, SOURCE

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA compiler) is not on PATH")

#: ptxas reports each entry function, then its stack frame and spills.
ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'")
SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")


def _compile(source, arch: str, directory) -> subprocess.CompletedProcess:
    """nvcc on a unit that includes ``source`` and takes every kernel's address (instantiating it)."""
    wrapper = directory / "instantiate.cu"
    addresses = ", ".join(f"(void*)&{name}" for name in KERNELS)
    wrapper.write_text(f'#include "{source}"\nvoid* fastkm_kernels[] = {{{addresses}}};\n')
    return subprocess.run(
        [NVCC, "-cubin", f"-arch={arch}", "-std=c++17", "-Werror", "all-warnings",
         "-Xptxas", "-v,-warn-spills", str(wrapper), "-o", str(directory / "kernels.cubin")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernels_compile_without_spills(tmp_path, arch):
    result = _compile(SOURCE, arch, tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"nvcc failed for {arch}:\n{report}"
    entries = ENTRY.findall(report)
    spills = SPILLS.findall(report)
    assert len(entries) == len(KERNELS) == len(spills), report
    assert {found_arch for _, found_arch in entries} == {arch}
    filt = shutil.which("cu++filt") or shutil.which("c++filt")
    if filt is None:
        pytest.skip("neither cu++filt nor c++filt is on PATH to demangle the kernel names")
    demangled = subprocess.run(
        [filt],
        input="\n".join(name for name, _ in entries), capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    compiled = {re.sub(r"\s+", "", line.split("(")[0].removeprefix("void ")) for line in demangled}
    assert compiled == {re.sub(r"\s+", "", name) for name in KERNELS}
    for (name, _), line in zip(entries, spills):
        stack, stores, loads = map(int, line)
        assert stores == 0 and loads == 0, f"{name} spills registers on {arch}: {stores} B stored, {loads} B loaded"


def test_nvcc_rejects_a_broken_kernel(tmp_path):
    """The check above can fail: an error inside a kernel template is reported, not ignored."""
    broken = tmp_path / "broken.cu"
    broken.write_text(SOURCE.read_text().replace("distance = warp_sum(distance);", "distance = warp_sum(distance) +;", 1))
    assert broken.read_text() != SOURCE.read_text()
    assert _compile(broken, "sm_80", tmp_path).returncode != 0
