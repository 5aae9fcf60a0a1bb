"""report(): the result file, the termination message, the pod annotation, import cost."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbs_operator import sdk
from carbs_operator.results import ResultError, parse_result


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("CARBS_RESULT_FILE", "KUBERNETES_SERVICE_HOST", "CARBS_TERMINATION_LOG",
                 "POD_NAME", "POD_NAMESPACE", "HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    sdk._reset_for_tests()
    yield
    sdk._reset_for_tests()


def test_report_writes_the_result_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = tmp_path / "trial" / "result.json"
    monkeypatch.setenv("CARBS_RESULT_FILE", str(result))
    from carbs_operator import report

    assert report({"val_loss": 0.5}, flops=10) == {"val_loss": 0.5, "flops": 10.0}
    assert report(val_loss=0.25) == {"val_loss": 0.25, "flops": 10.0}  # accumulates
    assert parse_result(result.read_text()) == {"val_loss": 0.25, "flops": 10.0}
    assert [p.name for p in result.parent.iterdir()] == ["result.json"]  # no temp files left


def test_report_rejects_programming_errors() -> None:
    with pytest.raises(TypeError, match="given twice: a"):
        sdk.report({"a": 1}, a=2)
    with pytest.raises(TypeError, match="'a' must be a number"):
        sdk.report(a="0.1")
    with pytest.raises(TypeError, match="'a' must be a number"):
        sdk.report(a=[1, 2])
    with pytest.raises(TypeError, match="names must be non-empty strings"):
        sdk.report({1: 2.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="limit"):
        sdk.report({f"m{i}": 1.0 for i in range(10000)})


def test_non_finite_is_written_and_fails_the_trial_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CARBS_RESULT_FILE", str(tmp_path / "r.json"))
    with caplog.at_level(logging.WARNING):
        sdk.report(val_loss=float("nan"))
    assert "non-finite" in caplog.text
    with pytest.raises(ResultError, match="'val_loss' is not finite"):
        parse_result((tmp_path / "r.json").read_text())


def test_in_a_pod_the_termination_message_is_written_and_annotation_failure_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    message = tmp_path / "termination-log"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("CARBS_TERMINATION_LOG", str(message))
    monkeypatch.setattr(sdk, "SERVICE_ACCOUNT_DIR", tmp_path / "no-service-account")
    with caplog.at_level(logging.WARNING):
        sdk.report(val_loss=0.5)
    assert json.loads(message.read_text()) == {"val_loss": 0.5}
    assert "cannot annotate the pod" in caplog.text


def test_termination_message_write_failure_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("CARBS_TERMINATION_LOG", str(tmp_path / "missing-dir" / "log"))
    monkeypatch.setattr(sdk, "SERVICE_ACCOUNT_DIR", tmp_path)
    with caplog.at_level(logging.WARNING):
        sdk.report(val_loss=0.5)
    assert "could not write the termination message" in caplog.text


def test_pod_annotation_patch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("secret-token\n")
    (tmp_path / "namespace").write_text("ml")
    monkeypatch.setattr(sdk, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.setenv("HOSTNAME", "digits-3-abcde")
    monkeypatch.setenv("CARBS_TERMINATION_LOG", str(tmp_path / "log"))
    sent: list[urllib.request.Request] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *args: Any) -> None:
            pass

        def read(self) -> bytes:
            return b"{}"

    def fake_urlopen(request: urllib.request.Request, **kwargs: Any) -> Response:
        assert kwargs["context"] == "ctx"
        sent.append(request)
        return Response()

    monkeypatch.setattr(ssl, "create_default_context", lambda cafile: "ctx")
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    sdk.report(val_loss=0.5)
    [request] = sent
    assert request.full_url == "https://[fd00::1]:6443/api/v1/namespaces/ml/pods/digits-3-abcde"
    assert request.get_method() == "PATCH"
    assert request.get_header("Authorization") == "Bearer secret-token"
    assert request.get_header("Content-type") == "application/merge-patch+json"
    assert isinstance(request.data, bytes)
    body = json.loads(request.data)
    assert json.loads(body["metadata"]["annotations"]["carbs.dev/result"]) == {"val_loss": 0.5}


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, carbs_operator; carbs_operator.report; carbs_operator.__version__; "
        "heavy = {'torch', 'gpytorch', 'numpy', 'pydantic', 'yaml', 'carbs_optimizer'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
