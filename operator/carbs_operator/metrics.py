"""Prometheus metrics shared by `carbs run` and the operator.

One set of names for both runtimes, so the chart's dashboard and alert rules work on either.
Every series carries `namespace` and `study` (the local runner says namespace "local") and
nothing per trial: a study may run thousands of trials, and a label per trial would grow
the scrape without bound. Values are in base units (seconds) or the study's own units
(objective, cost).

The in-flight gauge is `carbs_trials_in_flight{phase}`, not `carbs_trials{phase}`: the
counter `carbs_trials_total` already owns the metric family `carbs_trials`, and a gauge of
the same family name is refused by prometheus_client's registry and is invalid in the
OpenMetrics exposition Prometheus asks for by default. Likewise the frontier gauge's label
is `cost_quantile`: `quantile` is reserved for summaries, and `promtool check metrics`
rejects it on a gauge.

Early stopping is read from the trial records, not counted as it happens, so the gauges
survive a restart of either runtime: how many trials were stopped, and the compute stopping
saved, an estimate (see `saved_cost`).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import start_http_server

from carbs_operator.frontier import pareto_frontier
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.scaleup.predict import CURVE_MULTIPLES, CURVES, law_curve, scale_up_prediction
from carbs_operator.study import TrialRecord, best_trial, count_trials, successes, total_cost
from carbs_optimizer import ScalingLaw as FittedLaw

OUTCOMES: Final = ("succeeded", "failed", "lost", "earlystopped")
IN_FLIGHT_PHASES: Final = ("pending", "running")
QUANTILES: Final = ("0", "0.25", "0.5", "0.75", "1")
LABELS: Final = ("namespace", "study")
LAW_BOUNDS: Final = ("estimate", "low", "high")

# Suggestion is a GP fit plus an acquisition search: tens of milliseconds on a small study,
# up to minutes on a large one with many parameters.
DURATION_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)


def _version() -> str:
    from carbs_operator import __version__

    return str(__version__)


class StudyMetrics:
    """The collectors, registered on the registry the caller owns.

    A dedicated registry (not prometheus_client's global one) keeps tests isolated and lets
    the operator and a runner in one process not collide.
    """

    def __init__(self, registry: CollectorRegistry, version: str | None = None) -> None:
        self.registry = registry
        self._frontiers: dict[
            tuple[str, str], tuple[tuple[object, ...], StudySpec, list[TrialRecord]]
        ] = {}
        self.trials_finished = Counter(
            "carbs_trials", "Trials finished, by outcome (lost: workload vanished, retried; "
            "earlystopped: ended by spec.earlyStopping).",
            [*LABELS, "outcome"], registry=registry,
        )
        self.trials_in_flight = Gauge(
            "carbs_trials_in_flight", "Trials created and not finished, by phase.",
            [*LABELS, "phase"], registry=registry,
        )
        self.best_objective = Gauge(
            "carbs_best_objective",
            "Objective of the best successful trial (absent until one succeeds).",
            LABELS, registry=registry,
        )
        self.total_cost = Gauge(
            "carbs_total_cost", "Summed cost of finished trials, in the study's cost unit.",
            LABELS, registry=registry,
        )
        self.frontier_objective = Gauge(
            "carbs_frontier_objective",
            "Objective the Pareto frontier reaches at a quantile of its costs (0: cheapest "
            "point, 1: dearest).",
            [*LABELS, "cost_quantile"], registry=registry,
        )
        self.frontier_points = Gauge(
            "carbs_frontier_points", "Points on the cost/objective Pareto frontier.",
            LABELS, registry=registry,
        )
        self.scale_up_objective = Gauge(
            "carbs_scaleup_objective",
            "The objective's fitted scaling law (curve law) and the frontier (curve frontier) "
            "at multiples of the largest finished trial's cost; at the scale-up multiple (10) "
            "also the prediction's interval (curves low, high). Absent while the frontier "
            "cannot support a fit.",
            [*LABELS, "cost_multiple", "curve"], registry=registry,
        )
        self.early_stopped = Gauge(
            "carbs_early_stopped_trials",
            "Trials spec.earlyStopping stopped (phase EarlyStopped).", LABELS, registry=registry,
        )
        self.saved_cost = Gauge(
            "carbs_early_stopping_saved_cost",
            "Compute early stopping saved, in the study's cost unit: over the stopped trials, "
            "the cost each would have had run to its end minus its cost when stopped (never "
            "below 0). An estimate: a trial's full cost is the engine's predicted cost of its "
            "suggestion, else the median cost of the study's succeeded trials.",
            LABELS, registry=registry,
        )
        self.suggest_duration = Histogram(
            "carbs_suggest_duration_seconds", "Time to compute one suggestion.",
            LABELS, buckets=DURATION_BUCKETS, registry=registry,
        )
        self.gp_fit_duration = Histogram(
            "carbs_gp_fit_duration_seconds", "Time to fit the surrogate models once.",
            LABELS, buckets=DURATION_BUCKETS, registry=registry,
        )
        self.reconcile_errors = Counter(
            "carbs_reconcile_errors", "Reconciles of a study that raised an error.",
            LABELS, registry=registry,
        )
        self.last_trial_finished = Gauge(
            "carbs_last_trial_finished_timestamp_seconds",
            "POSIX time the latest trial concluded (succeeded, failed or stopped early); "
            "until one has, the time the study's first trial was created.",
            LABELS, registry=registry,
        )
        self.law_exponent = Gauge(
            "carbs_scaling_law_exponent",
            "Each numeric parameter's scaling-law exponent (slope against log10 cost; bound "
            "estimate) and its 80% interval (bounds low, high). Read it with "
            "carbs_scaling_law_verdict: only a 'law' is one.",
            [*LABELS, "parameter", "bound"], registry=registry,
        )
        self.law_verdict = Gauge(
            "carbs_scaling_law_verdict",
            "1 for each parameter's current verdict: law, no law, saturated or too few "
            "trials (one series per parameter).",
            [*LABELS, "parameter", "verdict"], registry=registry,
        )
        self.build_info = Info("carbs_build", "Version of carbs-operator.", registry=registry)
        self.build_info.info({"version": version or _version()})

    def record_trial_finished(self, namespace: str, study: str, outcome: str) -> None:
        """Count one finished trial; call once per trial as it concludes."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        self.trials_finished.labels(namespace, study, outcome).inc()

    def observe_suggest(self, namespace: str, study: str, seconds: float) -> None:
        self.suggest_duration.labels(namespace, study).observe(seconds)

    def observe_gp_fit(self, namespace: str, study: str, seconds: float) -> None:
        self.gp_fit_duration.labels(namespace, study).observe(seconds)

    def record_reconcile_error(self, namespace: str, study: str) -> None:
        self.reconcile_errors.labels(namespace, study).inc()

    def update_study(
        self, namespace: str, study: str, spec: StudySpec, trials: Sequence[TrialRecord],
        laws: Sequence[FittedLaw] | None = None,
    ) -> None:
        """Set the gauges from the trial records (cheap enough to call every reconcile);
        the law gauges from `laws` where the caller has fitted them."""
        if laws is not None:
            self._update_laws(namespace, study, laws)
        for outcome in OUTCOMES:
            # Present from the start at 0, so rate() and increase() see the first trial.
            self.trials_finished.labels(namespace, study, outcome)
        self.reconcile_errors.labels(namespace, study)
        # The latency histograms too: a study's first GP fit may come seconds before its
        # last scrape, and a series born with its first observation has no rate() then.
        self.suggest_duration.labels(namespace, study)
        self.gp_fit_duration.labels(namespace, study)
        counts = count_trials(trials)
        self.trials_in_flight.labels(namespace, study, "pending").set(counts.pending)
        self.trials_in_flight.labels(namespace, study, "running").set(counts.running)
        self.total_cost.labels(namespace, study).set(total_cost(trials))
        self.early_stopped.labels(namespace, study).set(counts.early_stopped)
        self.saved_cost.labels(namespace, study).set(saved_cost(trials))
        progress = last_progress(trials)
        if progress is not None:
            self.last_trial_finished.labels(namespace, study).set(progress)
        else:
            _forget(self.last_trial_finished, namespace, study)
        finite = [t for t in trials if _finite(t.objective) and _finite(t.cost)]
        best = best_trial(spec, finite)
        if best is not None and best.objective is not None:
            self.best_objective.labels(namespace, study).set(best.objective)
        else:
            _forget(self.best_objective, namespace, study)
        frontier = self._frontier(namespace, study, spec, finite)
        self.frontier_points.labels(namespace, study).set(len(frontier))
        for quantile in QUANTILES:
            if frontier:
                value = frontier_objective_at(frontier, float(quantile))
                self.frontier_objective.labels(namespace, study, quantile).set(value)
            else:
                _forget(self.frontier_objective, namespace, study, quantile)
        self._update_scale_up(namespace, study, spec, trials, frontier)

    def _update_scale_up(
        self, namespace: str, study: str, spec: StudySpec, trials: Sequence[TrialRecord],
        frontier: Sequence[TrialRecord],
    ) -> None:
        """The law beside the frontier it was fitted to, for the dashboard's scale-up panel
        (the same cached prediction as status.scaleUp)."""
        prediction = scale_up_prediction(spec, trials)
        curve = law_curve(prediction, frontier) if prediction is not None else {}
        for multiple in CURVE_MULTIPLES:
            for kind in CURVES:
                value = curve.get((multiple, kind))
                if value is not None and math.isfinite(value):
                    self.scale_up_objective.labels(namespace, study, multiple, kind).set(value)
                else:
                    _forget(self.scale_up_objective, namespace, study, multiple, kind)

    def _frontier(
        self, namespace: str, study: str, spec: StudySpec, trials: Sequence[TrialRecord]
    ) -> list[TrialRecord]:
        """The frontier, recomputed only when a success was added or changed: update_study
        runs on every state change of the runner, most of which (a trial starting) leave it
        as it was, and the frontier is the one costly part."""
        key = tuple((t.index, t.objective, t.cost) for t in successes(trials))
        cached = self._frontiers.get((namespace, study))
        if cached is not None and cached[0] == key and cached[1] is spec:
            return cached[2]
        frontier = pareto_frontier(spec, trials)
        self._frontiers[(namespace, study)] = (key, spec, frontier)
        return frontier

    def _update_laws(self, namespace: str, study: str, laws: Sequence[FittedLaw]) -> None:
        self._forget_laws(namespace, study)
        for law in laws:
            self.law_verdict.labels(namespace, study, law.parameter, law.verdict).set(1)
            interval = law.exponent_interval or (None, None)
            for bound, value in zip(LAW_BOUNDS, (law.exponent, *interval), strict=True):
                if value is not None and math.isfinite(value):
                    self.law_exponent.labels(namespace, study, law.parameter, bound).set(value)

    def _forget_laws(self, namespace: str, study: str) -> None:
        """A parameter's verdict changes, and a study's parameters with its spec."""
        for metric in (self.law_exponent, self.law_verdict):
            for labels in list(metric._metrics):  # prometheus_client has no public listing
                if labels[:2] == (namespace, study):
                    with contextlib.suppress(KeyError):
                        metric.remove(*labels)

    def remove_study(self, namespace: str, study: str) -> None:
        """Drop every series of a deleted study, so it stops being scraped (and alerted on)."""
        self._frontiers.pop((namespace, study), None)
        self._forget_laws(namespace, study)
        for outcome in OUTCOMES:
            _forget(self.trials_finished, namespace, study, outcome)
        for phase in IN_FLIGHT_PHASES:
            _forget(self.trials_in_flight, namespace, study, phase)
        for quantile in QUANTILES:
            _forget(self.frontier_objective, namespace, study, quantile)
        for multiple in CURVE_MULTIPLES:
            for kind in CURVES:
                _forget(self.scale_up_objective, namespace, study, multiple, kind)
        for metric in (self.best_objective, self.total_cost, self.frontier_points,
                       self.early_stopped, self.saved_cost,
                       self.suggest_duration, self.gp_fit_duration, self.reconcile_errors,
                       self.last_trial_finished):
            _forget(metric, namespace, study)


def frontier_objective_at(frontier: Sequence[TrialRecord], quantile: float) -> float:
    """The frontier's objective at the `quantile` of its points' costs, taking the lower
    point (the frontier is a step function of cost), so each value is one a trial reached.
    `frontier` is ordered by increasing cost, as pareto_frontier returns it."""
    position = math.floor(quantile * (len(frontier) - 1) + 1e-9)
    return float(frontier[position].objective or 0.0)


def saved_cost(trials: Sequence[TrialRecord]) -> float:
    """The compute early stopping saved (the saved-cost gauge's estimate): for each stopped
    trial, its full cost less its cost when stopped, at least 0. Its full cost is the
    engine's predicted cost of the suggestion where there is one (Bayesian suggestions),
    else the median cost of the succeeded trials (a typical full run); with neither, a
    stopped trial adds nothing rather than a guess."""
    stopped = [t for t in trials if t.phase == TrialPhase.EARLY_STOPPED]
    if not stopped:
        return 0.0
    costs = sorted(t.cost for t in successes(trials) if _finite(t.cost) and t.cost is not None)
    typical = statistics.median(costs) if costs else None
    saved = 0.0
    for trial in stopped:
        full = trial.predicted_cost if _finite(trial.predicted_cost) else typical
        spent = trial.cost if _finite(trial.cost) and trial.cost is not None else 0.0
        if full is not None:
            saved += max(0.0, full - spent)
    return saved


def last_progress(trials: Sequence[TrialRecord]) -> float | None:
    """When the study last made progress: the latest conclusion of a trial, else the
    creation of its first trial (None before any trial exists).

    Taken from the trial records rather than the clock of this process, so it survives an
    operator restart; and it starts at the first trial's creation so the stalled-study alert
    also catches a study whose very first trials never finish. Lost trials are not progress:
    they are replaced, not concluded."""
    concluded = [t.finished_at for t in trials
                 if t.phase in (TrialPhase.SUCCEEDED, TrialPhase.FAILED,
                                TrialPhase.EARLY_STOPPED)
                 and t.finished_at is not None]
    if concluded:
        return max(concluded)
    created = [t.created_at for t in trials if t.created_at is not None]
    return min(created) if created else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _forget(metric: Counter | Gauge | Histogram, *labels: str) -> None:
    # Older prometheus_client raises KeyError for a label set never used; newer ignores it.
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


class MetricsServer:
    """The /metrics HTTP endpoint on a daemon thread; `port` is the bound one (ask for 0
    in tests to get a free port)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port: int = self._server.server_port
        self._closed = threading.Event()

    def shutdown(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    close = shutdown

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve `registry` on http://host:port/metrics until shutdown() is called.

    Loopback by default: `carbs run` on a laptop should not expose its metrics to the
    network unless asked; the operator's Deployment passes 0.0.0.0.
    """
    return MetricsServer(registry, port, host)
