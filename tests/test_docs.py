"""The examples in README.md run and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks(ROOT / "README.md"))))
def test_readme_python_examples_run(index):
    code = _python_blocks(ROOT / "README.md")[index]
    namespace: dict = {}
    exec(compile(code, f"README.md[python block {index}]", "exec"), namespace)
    if "result" in namespace:
        assert namespace["result"].centroids.shape[0] == namespace["result"].labels.max() + 1


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3 -m pip install -e ".[test]" && python3 -m pytest'
    assert command in readme
    assert command in ci


def test_dockerfile_installs_the_project_from_a_pinned_base():
    dockerfile = (ROOT / "docker" / "Dockerfile.cpu").read_text(encoding="utf-8")
    base = re.search(r"^FROM\s+(\S+)", dockerfile, flags=re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    assert re.search(r"^RUN pip install \.", dockerfile, flags=re.M)
    assert 'CMD ["demo"]' in dockerfile
