"""What the UI server reads: a `StudySource` of studies, local or on a cluster.

The server (ui/server.py) only routes and serialises; each source turns its stored records
into the JSON of carbs_operator.study_view. Every method is synchronous and may be slow (a
view refits the laws), so the server calls them in a thread pool, never on its event loop.
Sources cache by the study's revision, so an unchanged study costs one cheap check.

JSON shapes (camelCase keys, numbers finite or null; every string is user data, to be shown
as text):

- `studies()`: `[StudySummary]`, where StudySummary is
  `{key, name, namespace, source: "local"|"cluster", phase, trials: {finished, total,
  budget}, best: {trial, objective} | null, totalCost, maxTotalCost | null,
  conditions: [{type, status, reason, message}], objective: {metric, direction},
  costLabel, revision}`.
- `view(key)`: the study view (study_view.StudyView.to_json()):
  `{key, name, namespace, revision, objective: {metric, direction}, costLabel,
  parameters: [{name, space, min, max, integer, choices, values}], summary: StudySummary,
  status: <the CarbsStudy status as the operator writes it, camelCase>,
  trials: [{index, name, phase, params: {name: value}, objective, cost, reason,
  stopStep, onFrontier, startedAt, finishedAt}], frontier: [index, ...] (by cost),
  laws: [Law], scaleUp: <status.scaleUp> | null, manifest: <YAML text>}`,
  where Law is `{parameter, space, fit, exponent, interval: [low, high] | null,
  intercept, r2, points, verdict, heldValue, saturationCost, reading,
  bands: [{minCost, maxCost, value, points}] | null, line: [{cost, value, low, high}]}`
  (`line`: the law drawn over the frontier's cost range, with its band).
- `curves(key)`: `{metric, trials: [{index, phase, stopped, stopStep,
  points: [[step, value], ...]}]}`.
- `trial(key, index)`: `{trial: <one entry of view.trials>, curve: [[step, value], ...],
  metrics: {name: value}, log: [line, ...] | null}` or None when no such trial
  (`log` is the tail of the primary pod's log on a cluster, null locally).
- `importance(key)`: `{method, bands: [{minCost, maxCost, trials, importance:
  {param: share}}], overall: {param: share}}` (shares sum to 1 within a band).
- `predict(key, cost)`: `{cost, params, intervals, objective, objectiveInterval,
  extrapolation}` (status.scaleUp's shape) or `{error: text}`.
"""

from __future__ import annotations

from typing import Any, Protocol

from carbs_operator.errors import InvalidInputError

JSON = dict[str, Any]


class StudyNotFoundError(InvalidInputError, LookupError):
    """No study under that key (the server answers 404)."""


class StudySource(Protocol):
    """Studies the UI can show; keys are opaque URL-safe strings."""

    def studies(self) -> list[JSON]: ...

    def revision(self, key: str) -> str: ...

    def view(self, key: str) -> JSON: ...

    def curves(self, key: str) -> JSON: ...

    def trial(self, key: str, index: int) -> JSON | None: ...

    def importance(self, key: str) -> JSON: ...

    def predict(self, key: str, cost: float) -> JSON: ...
