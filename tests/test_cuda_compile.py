"""Every CUDA kernel compiles with nvcc for sm_80 and sm_90, without register spills,
and without flush-to-zero arithmetic even under CuPy's ``-ftz=true``.

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


def _compile(source, arch: str, directory, *options: str, output: str = "kernels.cubin") -> subprocess.CompletedProcess:
    """nvcc on a unit that includes ``source`` and takes every kernel's address (instantiating it)."""
    wrapper = directory / "instantiate.cu"
    addresses = ", ".join(f"(void*)&{name}" for name in KERNELS)
    wrapper.write_text(f'#include "{source}"\nvoid* fastkm_kernels[] = {{{addresses}}};\n')
    return subprocess.run(
        [NVCC, f"-arch={arch}", "-std=c++17", "-Werror", "all-warnings", *options,
         str(wrapper), "-o", str(directory / output)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernels_compile_without_spills(tmp_path, arch):
    result = _compile(SOURCE, arch, tmp_path, "-cubin", "-Xptxas", "-v,-warn-spills")
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


def test_no_flush_to_zero_under_cupys_option(tmp_path):
    """CuPy appends ``-ftz=true`` to every compile (after ours: the last one wins), which would flush
    float subnormals in every f32 instruction -- conversions to double included -- and break the
    canonical distance and the screening bounds. The kernels do their float arithmetic with inline
    PTX that has no ``.ftz``: the PTX compiled with the option must hold no ``.ftz`` instruction."""
    result = _compile(SOURCE, "sm_80", tmp_path, "-ptx", "-ftz=true", output="kernels.ptx")
    assert result.returncode == 0, result.stdout + result.stderr
    ptx = (tmp_path / "kernels.ptx").read_text()
    assert len(re.findall(r"^\.(?:visible|weak) \.entry ", ptx, re.M)) == len(KERNELS)
    flushing = [line.strip() for line in ptx.splitlines() if ".ftz" in line]
    assert not flushing, f"{len(flushing)} flush-to-zero instructions, e.g. {flushing[:5]}"
    # (and the check can fail: plain float arithmetic compiles to .ftz instructions under the option)
    plain = tmp_path / "plain.cu"
    plain.write_text("__global__ void f(float* x) { x[0] = x[1] * x[2] + (x[3] < x[4]); }\n")
    subprocess.run([NVCC, "-ptx", "-arch=sm_80", "-ftz=true", str(plain), "-o", str(tmp_path / "plain.ptx")],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    assert ".ftz" in (tmp_path / "plain.ptx").read_text()


def test_nvcc_rejects_a_broken_kernel(tmp_path):
    """The check above can fail: an error inside a kernel template is reported, not ignored."""
    broken = tmp_path / "broken.cu"
    broken.write_text(SOURCE.read_text().replace("sq_norm = warp_sum(sq_norm);", "sq_norm = warp_sum(sq_norm) +;", 1))
    assert broken.read_text() != SOURCE.read_text()
    assert _compile(broken, "sm_80", tmp_path, "-cubin").returncode != 0
