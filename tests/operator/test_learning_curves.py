"""The progress channel: report_progress() prints what parse_chunk() reads back, and no
output a trial can print makes the parser raise, grow without bound or lose a split line."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_operator import report_progress
from carbs_operator.collectors import metrics_from_json_lines, metrics_from_text
from carbs_operator.learning_curves import (
    MARKER,
    MAX_CURVE_POINTS,
    MAX_LINE_BYTES,
    ProgressPoint,
    parse_chunk,
    parse_line,
    thin,
)


class _Out:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().out


@pytest.fixture
def stdout(capsys: pytest.CaptureFixture[str]) -> _Out:
    return _Out(capsys)


def test_report_progress_round_trips_through_the_parser(stdout: _Out) -> None:
    line = report_progress(3, val_loss=0.25, flops=2e11)
    printed = stdout.getvalue()
    assert printed == line + "\n"
    assert line.startswith(MARKER)
    chunk = parse_chunk(printed.encode())
    assert chunk.points == [ProgressPoint(3, {"val_loss": 0.25, "flops": 2e11})]
    assert chunk.problems == 0
    assert chunk.consumed == len(printed.encode())


@pytest.mark.parametrize("step", [-1, 1.5, True, "3", None])
def test_report_progress_refuses_a_bad_step(step: object, stdout: _Out) -> None:
    with pytest.raises(TypeError, match="step"):
        report_progress(step, loss=1.0)  # type: ignore[arg-type]
    assert stdout.getvalue() == ""


def test_report_progress_refuses_non_numbers_and_huge_lines(stdout: _Out) -> None:
    with pytest.raises(TypeError, match="'loss' must be a number"):
        report_progress(1, loss="low")
    with pytest.raises(TypeError, match="first argument"):
        report_progress(1, **{"step": 2.0})
    with pytest.raises(ValueError, match="over 4096 bytes"):
        report_progress(1, **{f"metric_{i:04d}": 1.0 for i in range(400)})
    assert stdout.getvalue() == ""


def test_a_closed_stdout_does_not_end_training(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    closed = open(tmp_path / "out.txt", "w")  # noqa: SIM115 - closed on purpose below
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    assert report_progress(2, loss=0.5) == MARKER + '{"step":2,"loss":0.5}'


def test_a_non_finite_point_is_printed_and_then_skipped_as_a_problem(
    stdout: _Out,
) -> None:
    report_progress(1, loss=math.nan)
    chunk = parse_chunk(stdout.getvalue().encode())
    assert chunk.points == []
    assert chunk.problems == 1
    assert "non-finite" in (chunk.first_problem or "")


@pytest.mark.parametrize(("payload", "problem"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"loss": 1.0}', "'step' must be an integer"),
    ('{"step": 1.5, "loss": 1.0}', "'step' must be an integer"),
    ('{"step": true, "loss": 1.0}', "'step' must be an integer"),
    ('{"step": -2, "loss": 1.0}', "'step' must be >= 0"),
    ('{"step": 1, "loss": "low"}', "not a finite number"),
    ('{"step": 1, "loss": null}', "not a finite number"),
    ('{"step": 1, "loss": Infinity}', "non-finite"),
    ('{"step": 1, "loss": 1e999}', "not a finite number"),
    ('{"step": 1, "loss": {"a": 1}}', "not a finite number"),
    ('{"step": 1, "ok": false}', "not a finite number"),
    ("[" * 100_000, "not JSON"),
])
def test_malformed_lines_are_problems_never_exceptions(payload: str, problem: str) -> None:
    result = parse_line(payload)
    assert isinstance(result, str)
    assert problem in result
    chunk = parse_chunk(f"{MARKER}{payload}\n{MARKER}{{\"step\": 2, \"loss\": 0.5}}\n".encode())
    assert chunk.points == [ProgressPoint(2, {"loss": 0.5})]
    if len(payload) <= MAX_LINE_BYTES:
        assert chunk.problems == 1
        assert problem in (chunk.first_problem or "")


def test_other_output_is_ignored_and_a_prefix_is_allowed() -> None:
    text = (
        "epoch 1 done\n"
        "{\"step\": 9, \"loss\": 9}\n"  # a JSON line without the marker is not progress
        f"2026-01-01T00:00:00Z {MARKER}{{\"step\": 1, \"loss\": 0.9}}\n"  # a log timestamp
        f"  {MARKER}{{\"step\": 2}}\n"
    )
    chunk = parse_chunk(text.encode())
    assert chunk.points == [ProgressPoint(1, {"loss": 0.9}), ProgressPoint(2, {})]
    assert chunk.problems == 0


def test_an_unfinished_line_waits_for_the_next_read() -> None:
    data = f"{MARKER}{{\"step\": 1, \"loss\": 0.9}}\n{MARKER}{{\"step\": 2, \"lo".encode()
    first = parse_chunk(data)
    assert first.points == [ProgressPoint(1, {"loss": 0.9})]
    assert first.consumed == data.index(b"\n") + 1
    rest = data[first.consumed:] + b'ss": 0.8}\n'
    second = parse_chunk(rest)
    assert second.points == [ProgressPoint(2, {"loss": 0.8})]
    assert second.consumed == len(rest)
    # When the trial has ended, an unterminated last line is read as it is.
    assert parse_chunk(data[first.consumed:] + b'ss": 0.8}', final=True).points == [
        ProgressPoint(2, {"loss": 0.8})]


def test_over_long_lines_are_skipped_and_a_long_tail_is_not_kept() -> None:
    long_line = f"{MARKER}{{\"step\": 1, \"pad\": \"{'x' * MAX_LINE_BYTES}\"}}\n".encode()
    chunk = parse_chunk(long_line + f"{MARKER}{{\"step\": 2}}\n".encode())
    assert chunk.points == [ProgressPoint(2, {})]
    assert chunk.problems == 1
    assert f"over {MAX_LINE_BYTES} bytes" in (chunk.first_problem or "")
    # An unfinished line already longer than any progress line is consumed, not carried.
    tail = b"y" * (MAX_LINE_BYTES + 10)
    assert parse_chunk(tail).consumed == len(tail)


def test_invalid_utf8_is_replaced() -> None:
    data = MARKER.encode() + b'{"step": 1, "lo\xffss": 0.5}\n\xfe\xfd\n'
    chunk = parse_chunk(data)
    assert chunk.points == [ProgressPoint(1, {"lo\ufffdss": 0.5})]


def test_a_flood_keeps_the_latest_points_and_counts_the_rest() -> None:
    data = "".join(f"{MARKER}{{\"step\": {i}, \"loss\": 1}}\n" for i in range(1000)).encode()
    chunk = parse_chunk(data, max_points=10)
    assert [p.step for p in chunk.points] == list(range(990, 1000))
    assert chunk.dropped == 990


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for prefix in (b"", MARKER.encode()):
        chunk = parse_chunk(prefix + data, max_points=5)
        assert len(chunk.points) <= 5
        assert 0 <= chunk.consumed <= len(prefix + data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(), max_size=300), st.integers(min_value=2, max_value=70))
def test_thin_keeps_both_ends_and_the_limit(points: list[int], limit: int) -> None:
    thinned = thin(points, limit)
    assert len(thinned) == min(len(points), limit)
    if points:
        assert thinned[0] == points[0]
        assert thinned[-1] == points[-1]
    # A subsequence, in order.
    it = iter(points)
    assert all(any(x == y for y in it) for x in thinned)


def test_thin_spreads_points_evenly() -> None:
    steps = thin(list(range(1000)), MAX_CURVE_POINTS)
    gaps = [b - a for a, b in itertools.pairwise(steps)]
    assert max(gaps) - min(gaps) <= 1
    assert thin([1, 2, 3], 1) == [3]


def test_stdout_collectors_ignore_progress_lines() -> None:
    output = (
        f"{MARKER}{{\"step\": 1, \"loss\": 0.1}}\n"
        "{\"loss\": 0.5}\n"
        f"{MARKER}{{\"step\": 2, \"loss\": 0.05}}\n"
    )
    assert metrics_from_json_lines(output, "loss", {}) == {"loss": 0.5}
    assert metrics_from_json_lines(output, "loss", {"loss": "min"}) == {"loss": 0.5}
    text = f"loss=0.5\n{MARKER}loss=0.01\n"
    assert metrics_from_text(text, [r"(loss)=([\d.]+)"], {"loss": "min"}) == {"loss": 0.5}
