"""The examples in README.md run and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks(ROOT / "README.md"))))
def test_readme_python_examples_run(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples may write pictures
    code = _python_blocks(ROOT / "README.md")[index]
    namespace: dict = {}
    exec(compile(code, f"README.md[python block {index}]", "exec"), namespace)
    if "result" in namespace:
        assert namespace["result"].centroids.shape[0] == namespace["result"].labels.max() + 1
    if "choice" in namespace:  # the K-selection example finds the board's 5 blobs, as it says
        assert namespace["choice"].best_k == 5
    for picture in re.findall(r'"(\w+\.(?:png|gif))"', code):
        assert (tmp_path / picture).stat().st_size > 5000, f"{picture} was not drawn"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3 -m pip install -e ".[test]" && python3 -m pytest'
    assert command in readme
    assert command in ci


@pytest.mark.parametrize(
    "name, base_pattern, extras",
    [
        ("Dockerfile.cpu", r"python:\d+\.\d+\.\d+-slim-\w+", {"plot"}),
        ("Dockerfile.cuda", r"nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", {"cuda12", "plot"}),
    ],
)
def test_dockerfiles_install_the_project_from_a_pinned_base(name, base_pattern, extras):
    dockerfile = (ROOT / "docker" / name).read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.M)
    assert len(bases) == 1 and re.fullmatch(base_pattern, bases[0]), bases  # a full version tag, never "latest"
    install = re.search(r'^RUN pip install "\.\[([\w,]+)\]"', dockerfile, flags=re.M)
    assert install, "the image must pip install the project itself"
    assert set(install.group(1).split(",")) == extras
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert all(re.search(rf"^{extra} = \[", pyproject, flags=re.M) for extra in extras), "the extras exist"
    assert re.search(r"^COPY fastkm \./fastkm", dockerfile, flags=re.M)
    assert 'ENTRYPOINT ["fastkm"]' in dockerfile and 'CMD ["demo"]' in dockerfile
    assert name in (ROOT / "docker" / "README.md").read_text(encoding="utf-8")
