"""The tail of a timestamped pod log as progress (pure): new lines by their time, the time
each point was printed, unfinished and foreign lines left alone, a flood capped; the cost
measured so far; and the emulator's log endpoint the reader is tested against."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from carbs_operator.k8s.api import KubeApi
from carbs_operator.k8s.progress import line_time, read_tail
from carbs_operator.k8s.workload_api import cost_so_far
from carbs_operator.learning_curves import MARKER, MAX_POINTS_PER_READ
from carbs_operator.validation import parse_study
from tests.k8s.conftest import study
from tests.support.emulator import Cluster

T0 = 1_700_000_000.0


def stamped(seconds: float, text: str) -> bytes:
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z {text}\n".encode()


def line(step: int, **metrics: float) -> str:
    return MARKER + json.dumps({"step": step, **metrics})


def test_line_time_reads_the_kubelet_stamp_to_the_microsecond() -> None:
    assert line_time(b"2023-11-14T22:13:20.250000000Z") == pytest.approx(T0 + 0.25)
    assert line_time(b"2023-11-14T22:13:20Z") == T0
    for bad in (b"", b"yesterday", b"2023-11-14T22:13:20", b"2023-13-14T22:13:20Z"):
        assert line_time(bad) is None


def test_only_lines_after_the_cursor_count_and_each_point_keeps_its_time() -> None:
    data = b"".join([stamped(T0 + 1, line(0, loss=3.0)), stamped(T0 + 2, "epoch done"),
                     stamped(T0 + 3, line(1, loss=2.0)), stamped(T0 + 4, line(2, loss=1.0))])
    reading = read_tail(data, after=T0 + 2)
    assert [p.step for p in reading.chunk.points] == [1, 2]
    assert reading.times == [T0 + 3, T0 + 4]
    assert (reading.lines, reading.newest) == (2, T0 + 4)
    everything = read_tail(data, after=None)
    assert [p.step for p in everything.chunk.points] == [0, 1, 2]
    assert everything.lines == 4
    assert read_tail(data, after=T0 + 4).lines == 0


def test_an_unfinished_last_line_waits_and_foreign_lines_are_skipped() -> None:
    whole = stamped(T0 + 1, line(0, loss=3.0))
    cut = stamped(T0 + 2, line(1, loss=2.0))[:-10]  # the byte limit fell inside it
    reading = read_tail(b"not a stamped line\n" + whole + cut, after=None)
    assert [p.step for p in reading.chunk.points] == [0]
    assert reading.newest == T0 + 1  # the cut line is read whole next time


def test_malformed_lines_are_counted_with_the_first_reason() -> None:
    data = b"".join([stamped(T0 + 1, MARKER + "{oops"), stamped(T0 + 2, MARKER + "[1]"),
                     stamped(T0 + 3, line(4, loss=1.0))])
    reading = read_tail(data, after=None)
    assert reading.chunk.problems == 2
    assert reading.chunk.first_problem is not None
    assert reading.chunk.first_problem.startswith("malformed progress line (not JSON")
    assert [p.step for p in reading.chunk.points] == [4]


def test_a_flood_of_progress_keeps_the_latest_points() -> None:
    data = b"".join(stamped(T0 + i / 1000, line(i, loss=1.0)) for i in range(1000))
    reading = read_tail(data, after=None)
    assert len(reading.chunk.points) == MAX_POINTS_PER_READ
    assert reading.chunk.points[-1].step == 999
    assert reading.chunk.dropped == 1000 - MAX_POINTS_PER_READ
    assert len(reading.times) == MAX_POINTS_PER_READ


def _pod(start: str, gpus: int, end: str | None = None) -> dict[str, object]:
    state = {"terminated": {"startedAt": start, "finishedAt": end}} if end else \
        {"running": {"startedAt": start}}
    return {"spec": {"containers": [{"name": "c", "resources": {
        "limits": {"nvidia.com/gpu": str(gpus)}}}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "c", "state": state}]}}


def test_cost_so_far_is_measured_as_a_finished_trial_would_be() -> None:
    runtime = parse_study(study(cost={"source": "runtimeSeconds"})).spec
    assert cost_so_far(runtime, [], T0)(T0 + 30) == 30
    reported = parse_study(study()).spec  # cost metric: nothing is measured
    assert cost_so_far(reported, [], T0)(T0 + 30) is None
    body = study(cost={"source": "gpuSeconds"})
    container = body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"nvidia.com/gpu": "2"}}
    gpus = parse_study(body).spec  # a Job read natively: the first container's GPUs
    assert cost_so_far(gpus, [], T0)(T0 + 30) == 60
    body["spec"]["trialTemplate"]["successCondition"] = "has(self.status)"
    per_pod = parse_study(body).spec  # judged by CEL: GPU-seconds pod by pod
    pods = [_pod("2023-11-14T22:13:20Z", 2), _pod("2023-11-14T22:13:30Z", 1,
                                                  end="2023-11-14T22:13:40Z")]
    assert cost_so_far(per_pod, pods, T0)(T0 + 60) == 2 * 60 + 1 * 10


async def test_the_emulator_serves_a_growing_log_as_the_kubelet_does(cluster: Cluster) -> None:
    """What the reader relies on, through the real client: timestamps on each line (the time
    it was written), sinceSeconds, then tailLines, then limitBytes."""
    api = KubeApi(cluster.api_client())
    await cluster.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "p", "namespace": "default"},
                          "spec": {"containers": [{"name": "train", "image": "x"}]}})
    logs = cluster.emulator.pod_logs
    try:
        logs.write("default", "p", "train", "old 1\nold 2\n")
        logs.lines[("default", "p", "train")] = [
            (when - 100, text) for when, text in logs.lines[("default", "p", "train")]]
        logs.append("default", "p", "train", "new 1\nnew ")
        logs.append("default", "p", "train", "2\n")  # completes the partial line
        text, _ = await api.pod_log("default", "p", "train", 10_000, timestamps=True)
        assert text is not None
        stamps = [line_time(line.split(" ", 1)[0].encode()) or 0.0
                  for line in text.splitlines()]
        assert [line.split(" ", 1)[1] for line in text.splitlines()] == \
            ["old 1", "old 2", "new 1", "new 2"]
        assert min(stamps) > 0
        assert stamps[2] - stamps[1] >= 99  # each line's own time
        recent, _ = await api.pod_log("default", "p", "train", 10_000, since_seconds=50)
        assert recent == "new 1\nnew 2\n"
        tail, _ = await api.pod_log("default", "p", "train", 10_000, tail_lines=3)
        assert tail == "old 2\nnew 1\nnew 2\n"
        cut, _ = await api.pod_log("default", "p", "train", 8, tail_lines=2)
        assert cut == "new 1\nne"  # the tail first, then the byte limit
    finally:
        api.close()
