"""watch.py: the bounded read of a running trial's output, the grace period a template
gives, and the progress a read yields (real files, no runner)."""

from __future__ import annotations

import copy
from pathlib import Path

from carbs_operator.early_stopping import CurvePoint
from carbs_operator.learning_curves import MARKER, MAX_BACKLOG_BYTES, MAX_READ_BYTES
from carbs_operator.local import launcher as files
from carbs_operator.local.watch import (
    DEFAULT_GRACE_SECONDS,
    ReadState,
    grace_seconds,
    has_ended,
    read_new_output,
    read_progress,
)
from carbs_operator.models import TrialPhase
from tests.operator.manifest_cases import JOBSET
from tests.support.builders import study_manifest, study_spec, trial_record


def test_reads_only_new_bytes_and_skips_a_backlog(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    assert read_new_output(log, 0).data == b""  # not there yet
    log.write_bytes(b"a" * 10)
    first = read_new_output(log, 0)
    assert (first.data, first.start, first.skipped) == (b"a" * 10, 0, 0)
    assert read_new_output(log, 10).data == b""
    with open(log, "ab") as handle:
        handle.write(b"b" * (MAX_READ_BYTES + 5))
    bounded = read_new_output(log, 10)
    assert len(bounded.data) == MAX_READ_BYTES
    assert bounded.skipped == 0
    with open(log, "ab") as handle:
        handle.write(b"c" * MAX_BACKLOG_BYTES)
    size = log.stat().st_size
    behind = read_new_output(log, 10)
    assert behind.skipped == size - MAX_READ_BYTES - 10
    assert behind.start == size - MAX_READ_BYTES
    assert behind.data == b"c" * MAX_READ_BYTES
    log.write_bytes(b"new")  # replaced by a shorter file: read from its start
    assert read_new_output(log, 10).data == b"new"


def test_grace_period_comes_from_the_primary_pod_template() -> None:
    assert grace_seconds(study_spec()) == DEFAULT_GRACE_SECONDS
    job = study_manifest()["spec"]["trialTemplate"]
    job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 7
    assert grace_seconds(study_spec(trialTemplate=job)) == 7.0
    jobset = copy.deepcopy(JOBSET)
    pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 0
    assert grace_seconds(study_spec(trialTemplate=jobset)) == 0.0


def test_read_progress_builds_the_curve_across_reads(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    runtime = study_spec(cost={"source": "runtimeSeconds"})
    record = trial_record(0, TrialPhase.RUNNING, params={}, started_at=100.0)
    state = ReadState()
    log.write_bytes(f'{MARKER}{{"step": 0, "val_loss": 2.0}}\n{MARKER}{{"step": 1, "val'
                    .encode())
    curve, warning = read_progress(runtime, record, log, state, 110.0, gpus=0,
                                   silent_after=60.0)
    assert curve == (CurvePoint(0, 2.0, 10.0),)  # cost so far: the runtime at the read
    assert warning is None
    with open(log, "ab") as handle:
        handle.write(f'_loss": 1.5}}\n{MARKER}not json\n'.encode())
    record = trial_record(0, TrialPhase.RUNNING, params={}, started_at=100.0,
                         curve=curve)
    curve, warning = read_progress(runtime, record, log, state, 112.0, gpus=0,
                                   silent_after=60.0)
    assert curve == (CurvePoint(0, 2.0, 10.0), CurvePoint(1, 1.5, 12.0))
    assert warning is not None
    assert warning.startswith("1 malformed progress line skipped")
    assert state.offset == log.stat().st_size
    record = trial_record(0, TrialPhase.RUNNING, params={}, started_at=100.0,
                         curve=curve)
    _, silent = read_progress(runtime, record, log, state, 200.0, gpus=0, silent_after=60.0)
    assert silent == ("no progress for over 60 s since step 1; the trial is judged on the "
                      "progress it reported")


def test_a_trial_that_reported_its_result_or_exited_is_not_stopped(tmp_path: Path) -> None:
    """Its last progress line and its result are printed together: a stop decided on that
    line once discarded a finished trial's result (the runner now skips such a trial)."""
    assert not has_ended(tmp_path)
    (tmp_path / files.RESULT_FILE).write_text("{}")
    assert has_ended(tmp_path)
    (tmp_path / files.RESULT_FILE).unlink()
    (tmp_path / files.EXIT_FILE).write_text("{}")
    assert has_ended(tmp_path)
