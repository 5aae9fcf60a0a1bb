"""Prometheus alert rules for carbs-operator, generated from Python.

Generated so the thresholds are parameters (one place, with the reasoning beside them) and
tests can hold every expression to the metrics `carbs_operator.metrics` exposes; promtool
checks the document and unit-tests each alert firing and not firing. Regenerate the chart's
copy after any change:

    python -m carbs_operator.alerts > charts/carbs-operator/files/prometheus-rules.yaml

The output is a plain `groups:` document (a Prometheus rule file); the chart can also put
it under a PrometheusRule's `spec:`. It contains `{{ $labels.… }}` templates for
Prometheus, so the chart must include it verbatim (`.Files.Get`), never through `tpl`.

Alerts are per study (`namespace`, `study`), except CarbsOperatorDown, which is per scrape
target; that target is picked by a label selector (`--target-selector`) because the job
name depends on how Prometheus discovers it (a ServiceMonitor names the job after the
Service, a scrape config after itself).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

GROUP: Final = "carbs-operator"
BY_STUDY: Final = "namespace, study"
STUDY: Final = "{{ $labels.namespace }}/{{ $labels.study }}"
# A ServiceMonitor's job is the Service's name, a PodMonitor's "<namespace>/<name>", and the
# chart's names contain "carbs-operator" whatever the release is called.
DEFAULT_TARGET_SELECTOR: Final = 'job=~".*carbs-operator.*"'
_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(duration: str) -> int:
    """Seconds in a Prometheus duration of one unit ("90s", "30m", "1h", "2d")."""
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"duration must look like 30s, 15m, 1h or 2d, not {duration!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class AlertSettings:
    """The thresholds, with defaults meant for studies whose trials take minutes to hours.

    stalled_after: no trial concluded for this long while trials are in flight; raise it
    for studies whose single trials run longer than an hour.
    failure_min_trials: the failure ratio is only judged over at least this many finished
    trials, so one failure out of the first one does not page anybody.
    suggest_p95_seconds: 30 s is a bucket boundary of carbs_suggest_duration_seconds, so
    p95 above it means more than 5% of suggestions took longer than 30 s.
    """

    target_selector: str = DEFAULT_TARGET_SELECTOR
    down_for: str = "5m"
    stalled_after: str = "1h"
    failure_window: str = "1h"
    failure_ratio: float = 0.5
    failure_min_trials: int = 4
    suggest_window: str = "30m"
    suggest_p95_seconds: float = 30.0
    errors_window: str = "10m"
    errors_for: str = "15m"

    def __post_init__(self) -> None:
        for name in ("down_for", "stalled_after", "failure_window", "suggest_window",
                     "errors_window", "errors_for"):
            duration_seconds(getattr(self, name))
        if not self.target_selector.strip() or any(c in self.target_selector for c in "{}"):
            raise ValueError("target_selector is the inside of {…}: e.g. job=\"carbs\"")
        if not 0 < self.failure_ratio < 1:
            raise ValueError("failure_ratio must be between 0 and 1")
        if self.failure_min_trials < 1:
            raise ValueError("failure_min_trials must be at least 1")


def _operator_down(s: AlertSettings) -> dict[str, Any]:
    up = f"up{{{s.target_selector}}}"
    return {
        "alert": "CarbsOperatorDown",
        # `== 0`: a target that fails its scrapes; absent(): no target at all (Deployment
        # scaled to zero, ServiceMonitor or Service gone), which `up` alone never shows.
        "expr": f"{up} == 0\nor\nabsent({up})\n",
        "for": s.down_for,
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "carbs-operator is down",
            "description": (
                "{{ if $labels.instance }}Prometheus has failed to scrape carbs-operator at "
                "{{ $labels.instance }} (job {{ $labels.job }})"
                f"{{{{ else }}}}No target matching {up} has been scraped{{{{ end }}}} for "
                f"{s.down_for}. Studies are not reconciled: no new trials start and finished "
                "ones are not recorded."
            ),
        },
    }


def _study_stalled(s: AlertSettings) -> dict[str, Any]:
    return {
        "alert": "CarbsStudyStalled",
        # The timestamp comes from the trial records (the first trial's creation until one
        # concludes), so it survives an operator restart and covers a first trial that hangs.
        "expr": (
            f"time() - max by ({BY_STUDY}) (carbs_last_trial_finished_timestamp_seconds)\n"
            f"  > {duration_seconds(s.stalled_after)}\n"
            f"and on ({BY_STUDY})\n"
            f"sum by ({BY_STUDY}) (carbs_trials_in_flight) > 0\n"
        ),
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": f"Study {STUDY} has finished no trial for {s.stalled_after}",
            "description": (
                f"Study {STUDY} has trials in flight, but none has concluded for "
                "{{ $value | humanizeDuration }}. Trials may be stuck Pending (no capacity, "
                "unschedulable resources) or hanging; see `kubectl get carbstrials -n "
                "{{ $labels.namespace }}` and the study's events."
            ),
        },
    }


def _high_failure_ratio(s: AlertSettings) -> dict[str, Any]:
    def increase(outcome: str) -> str:
        return (f"sum by ({BY_STUDY}) "
                f"(increase(carbs_trials_total{{{outcome}}}[{s.failure_window}]))")

    failed, finished = increase('outcome="failed"'), increase('outcome=~"succeeded|failed"')
    return {
        "alert": "CarbsHighTrialFailureRatio",
        # Lost trials are replaced, so they are neither failures nor conclusions. increase()
        # extrapolates, so the minimum count is approximate.
        "expr": (
            f"{failed}\n/\n{finished}\n  > {s.failure_ratio}\n"
            f"and on ({BY_STUDY})\n{finished}\n  >= {s.failure_min_trials}\n"
        ),
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": f"Study {STUDY}: many trials fail",
            "description": (
                f"{{{{ $value | humanizePercentage }}}} of the trials of study {STUDY} that "
                f"finished in the last {s.failure_window} failed (threshold "
                f"{s.failure_ratio:.0%}). The study stops at spec.budget.maxFailedTrials; see "
                "the failed CarbsTrials' status.failureReason and their pods' logs."
            ),
        },
    }


def _suggest_latency_high(s: AlertSettings) -> dict[str, Any]:
    return {
        "alert": "CarbsSuggestLatencyHigh",
        "expr": (
            f"histogram_quantile(0.95, sum by ({BY_STUDY}, le) "
            f"(rate(carbs_suggest_duration_seconds_bucket[{s.suggest_window}])))\n"
            f"  > {s.suggest_p95_seconds:g}\n"
        ),
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": f"Suggestions for study {STUDY} are slow",
            "description": (
                f"p95 of the time to suggest a trial for study {STUDY} over the last "
                f"{s.suggest_window} is {{{{ $value | humanizeDuration }}}} (threshold "
                f"{s.suggest_p95_seconds:g}s). GP fitting grows with the number of "
                "observations; consider a GPU (--device cuda) or fewer, longer trials."
            ),
        },
    }


def _reconcile_errors(s: AlertSettings) -> dict[str, Any]:
    return {
        "alert": "CarbsReconcileErrors",
        # One error is retried and forgotten; errors in every window for `for` are not.
        "expr": (f"sum by ({BY_STUDY}) "
                 f"(increase(carbs_reconcile_errors_total[{s.errors_window}])) > 0\n"),
        "for": s.errors_for,
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": f"Reconciling study {STUDY} keeps failing",
            "description": (
                f"Reconciles of study {STUDY} have raised errors for more than "
                f"{s.errors_for} ({{{{ $value | humanize }}}} in the last {s.errors_window}). "
                "See the operator's log and `kubectl describe carbsstudy -n "
                "{{ $labels.namespace }} {{ $labels.study }}`."
            ),
        },
    }


def build_rules(settings: AlertSettings | None = None) -> dict[str, Any]:
    """The rule file as a dict: one group with the five alerts."""
    s = settings or AlertSettings()
    return {"groups": [{"name": GROUP, "rules": [
        _operator_down(s), _study_stalled(s), _high_failure_ratio(s),
        _suggest_latency_high(s), _reconcile_errors(s),
    ]}]}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the expressions) as literal blocks, as people write rule files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render(settings: AlertSettings | None = None) -> str:
    header = ("# Generated by `python -m carbs_operator.alerts`; edit carbs_operator/alerts.py "
              "and regenerate.\n")
    # Wide enough that no annotation is folded in the middle of a {{ template }}.
    body = yaml.dump(build_rules(settings), Dumper=_Dumper, sort_keys=False, width=1000,
                     allow_unicode=True)
    return header + body


def main(argv: Sequence[str] | None = None) -> int:
    defaults = AlertSettings()
    parser = argparse.ArgumentParser(
        prog="python -m carbs_operator.alerts",
        description="Print carbs-operator's Prometheus alert rules (a rule file).",
    )
    parser.add_argument("--target-selector", default=defaults.target_selector,
                        help="label matchers selecting the operator's scrape target, inside "
                             f"up{{…}} (default: {defaults.target_selector})")
    parser.add_argument("--stalled-after", default=defaults.stalled_after,
                        help="CarbsStudyStalled: no trial concluded for this long "
                             f"(default: {defaults.stalled_after})")
    parser.add_argument("--failure-ratio", type=float, default=defaults.failure_ratio)
    parser.add_argument("--failure-min-trials", type=int, default=defaults.failure_min_trials)
    parser.add_argument("--suggest-p95-seconds", type=float,
                        default=defaults.suggest_p95_seconds)
    args = parser.parse_args(argv)
    try:
        settings = AlertSettings(
            target_selector=args.target_selector, stalled_after=args.stalled_after,
            failure_ratio=args.failure_ratio, failure_min_trials=args.failure_min_trials,
            suggest_p95_seconds=args.suggest_p95_seconds,
        )
    except ValueError as error:
        parser.error(str(error))
    sys.stdout.write(render(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
