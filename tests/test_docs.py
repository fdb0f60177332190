"""The examples in README.md run and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
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
    fit_call = re.search(r"fastkm\.kmeans\(([\w.]+), (\d+)", code)
    if "result" in namespace:
        assert fit_call, "the README's result comes from fastkm.kmeans(X, K, ...)"
        data, n_clusters = eval(fit_call.group(1), namespace), int(fit_call.group(2))
        _check_fit(namespace["result"], data, n_clusters)
        backend = re.search(r"backend=(\w+)Backend\(", code)  # a backend instance runs the fit
        if backend:
            assert namespace["result"].backend == backend.group(1).lower()
    if "model" in namespace:
        _check_model(namespace["model"], namespace["X"])
    if "choice" in namespace:  # the K-selection example finds the board's 5 blobs, as it says
        choice = namespace["choice"]
        assert choice.best_k == 5
        k_range = eval(re.search(r"select_k\([\w.]+, (range\(\d+, \d+\))", code).group(1))
        assert choice.k_values == tuple(k_range) and choice.scores.shape == (len(k_range),)
        assert np.all(np.isfinite(choice.scores)) and np.all(np.isfinite(choice.errors))
    for picture in re.findall(r'"(\w+\.(?:png|gif))"', code):
        assert (tmp_path / picture).stat().st_size > 5000, f"{picture} was not drawn"


def _sq_distances(X, centroids):
    """Squared distances of every point to every centroid, in float64 (the README's data are small)."""
    X, centroids = np.asarray(X, dtype=np.float64), np.asarray(centroids, dtype=np.float64)
    return np.column_stack([((X - centre) ** 2).sum(axis=1) for centre in centroids])


def _check_fit(result, X, n_clusters):
    """What a README result must be: K centroids in the data's dtype, each label the nearest centroid,
    the inertia the sum of squared distances to them, and the inertia history non-increasing."""
    X = np.asarray(X)
    assert result.centroids.shape == (n_clusters, X.shape[1]) and result.centroids.dtype == X.dtype
    assert result.labels.shape == (len(X),) and result.labels.dtype == np.int32
    sq = _sq_distances(X, result.centroids)
    own = sq[np.arange(len(X)), result.labels]
    nearest = sq.min(axis=1)
    rounding = 1e-5 if X.dtype == np.float32 else 1e-10  # float32 fits may round near-ties either way
    assert np.all(own <= nearest * (1 + rounding) + rounding), "a label is not the nearest centroid"
    assert np.mean(result.labels == sq.argmin(axis=1)) > 0.999
    assert result.inertia == pytest.approx(own.sum(), rel=1e-7)  # (exact distances, summed in float64)
    assert len(set(result.labels.tolist())) == n_clusters  # no empty cluster
    history = np.asarray(result.inertia_history)
    assert len(history) == result.n_iter and np.all(np.diff(history) <= 1e-6 * history[0])
    assert history[-1] >= result.inertia * (1 - 1e-7)  # the last step moved the centroids down to it


def _check_model(model, X):
    """The README's estimator: predict, transform and score agree with its centroids."""
    X = np.asarray(X)
    sq = _sq_distances(X, model.cluster_centers_)
    np.testing.assert_array_equal(model.predict(X[:5]), sq[:5].argmin(axis=1))
    np.testing.assert_allclose(model.transform(X[:5]), np.sqrt(sq[:5]), rtol=1e-5)
    assert model.score(X) == pytest.approx(-sq.min(axis=1).sum(), rel=1e-5)
    assert model.score(X) == pytest.approx(-model.inertia_, rel=1e-5)


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


def test_relative_links_in_the_docs_lead_somewhere():
    """README and CONTRIBUTING point at files (docs/design.md, ...) and sections that exist."""
    for name in ("README.md", "CONTRIBUTING.md", "docs/design.md"):
        page = ROOT / name
        text = page.read_text(encoding="utf-8")
        anchors = {re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-")
                   for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)}  # fmt: skip
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            path, _, anchor = target.partition("#")
            if path:
                assert (page.parent / path).exists(), f"{name} links to {path}, which does not exist"
            elif anchor:
                assert anchor in anchors, f"{name} links to #{anchor}, a section it does not have"
    assert "DESIGN.md" not in (ROOT / "README.md").read_text(encoding="utf-8")
