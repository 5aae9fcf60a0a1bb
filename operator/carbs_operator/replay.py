"""Build a CARBS engine from a study spec and its trial records.

Both runtimes keep their durable truth in trial records (SQLite rows, CarbsTrial objects),
never in an engine snapshot: on start they replay the records. Finished trials become
observations, in index order; unfinished ones become pending suggestions, so the engine
does not suggest their points again; lost ones are left out, so their points may be tried
again under a new index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

from carbs_operator.models import Parameter, ParameterSpace, StudySpec, SuggestionKind, TrialPhase
from carbs_operator.study import TrialRecord, direction_sign
from carbs_optimizer import (
    CARBS,
    SUGGESTION_ID_DICT_KEY,
    CARBSParams,
    CategoricalSpace,
    LinearSpace,
    LogitSpace,
    LogSpace,
    ObservationInParam,
    OrdinalSpace,
    OutstandingSuggestionEstimatorEnum,
    Param,
    RealNumberSpace,
    ScalingLaw,
)


def _space(parameter: Parameter) -> RealNumberSpace:
    if parameter.space == ParameterSpace.CATEGORICAL:
        return CategoricalSpace(choices=parameter.choices or [])
    if parameter.space == ParameterSpace.ORDINAL:
        return OrdinalSpace(values=parameter.values or [])
    kind: type[RealNumberSpace] = LinearSpace
    if parameter.space == ParameterSpace.LOG:
        kind = LogSpace
    elif parameter.space == ParameterSpace.LOGIT:
        kind = LogitSpace
    bounds = {"min": parameter.min, "max": parameter.max}  # left out: the space's default
    return kind(
        **{k: v for k, v in bounds.items() if v is not None},
        scale=parameter.effective_scale(), is_integer=parameter.integer,
        rounding_factor=parameter.rounding_factor, step=parameter.step,
    )


def engine_space(parameter: Parameter) -> RealNumberSpace:
    """The engine's space of one parameter: its rounding is what makes a value legal."""
    return _space(parameter)


#: Without maxSuggestionCost, no trial is predicted to cost more than this share of the
#: study's maxTotalCost.
BUDGET_SHARE_PER_TRIAL = 0.1


def engine_params(spec: StudySpec) -> list[Param]:
    return [
        Param(parameter.name, _space(parameter), parameter.effective_search_center())
        for parameter in spec.parameters
    ]


def carbs_params(spec: StudySpec, device: str = "auto") -> CARBSParams:
    settings = spec.carbs
    config = CARBSParams(
        better_direction_sign=direction_sign(spec),
        seed=settings.seed,
        num_random_samples=settings.num_random_samples,
        initial_search_radius=settings.initial_search_radius,
        exploration_bias=settings.exploration_bias,
        resample_frequency=settings.resample_frequency,
        max_suggestion_cost=suggestion_cost_cap(spec),
        min_pareto_cost_fraction=settings.min_pareto_cost_fraction,
        outstanding_suggestion_estimator=OutstandingSuggestionEstimatorEnum(
            settings.outstanding_suggestion_estimator.value
        ),
        device=device,
    )
    if settings.max_gp_training_points is not None:
        config.max_gp_training_points = settings.max_gp_training_points
    return config


def suggestion_cost_cap(spec: StudySpec) -> float | None:
    """The dearest trial the engine may suggest: `maxSuggestionCost`, else a share of
    `maxTotalCost`.

    Without a cap the engine learns how far up the cost axis to go only from what it has
    spent, and measured on the search-quality suite (benchmarks/README.md, section 4) a study
    from a mid-range center then spent half its budget on one or two trials, ending after
    about 30 of its 60; with a tenth of the budget as the cap it ran 54-60 and its median
    regret fell on all four mid-range problems (by 1-33%).
    """
    if spec.max_suggestion_cost is not None:
        return spec.max_suggestion_cost
    if spec.budget.max_total_cost is not None:
        return spec.budget.max_total_cost * BUDGET_SHARE_PER_TRIAL
    return None


def replay_seed(spec: StudySpec, trials: Sequence[TrialRecord]) -> int:
    """The study's seed mixed with how many trials exist.

    A rebuilt engine starts its random stream afresh; with the bare seed, a study rebuilt
    after every trial would draw the same random-phase point again and again. Mixing in the
    trial count keeps rebuilds deterministic (same trials, same suggestion) yet distinct.
    """
    return (spec.carbs.seed * 1_000_003 + len(trials)) % (2**63)


def build_engine(
    spec: StudySpec, trials: Sequence[TrialRecord], device: str = "auto",
    stopped_feedback: StoppedFeedback | None = None,
) -> CARBS:
    """A fresh engine that has seen exactly these trials (an EarlyStopped one as
    `stopped_feedback` says, EARLY_STOPPED_FEEDBACK by default)."""
    config = carbs_params(spec, device)
    config.seed = replay_seed(spec, trials)
    engine = CARBS(config, engine_params(spec))
    feedback = EARLY_STOPPED_FEEDBACK if stopped_feedback is None else stopped_feedback
    for trial in sorted(trials, key=lambda t: t.index):
        observe_trial(engine, trial, feedback)
    # The resample schedule continues where it was, instead of starting over.
    engine.resample_count = sum(t.suggestion_kind == SuggestionKind.RESAMPLE for t in trials)
    return engine


class StoppedFeedback(StrEnum):
    """What the engine is told about an EarlyStopped trial (the candidates measured in
    benchmarks/early_stopping.py; EARLY_STOPPED_FEEDBACK is the one kept).

    FAILURE: a failed trial, so the success model learns to avoid its region.
    BOUND: a success at the cost its parameters were predicted to cost, with the objective
    it had when it was stopped: a pessimistic bound (it would only have improved), never a
    claim that this value was reached at the spent cost. A failure when no cost was predicted.
    NOTHING: its suggestion is forgotten, as for a lost trial.
    CENSORED: a success at its predicted cost whose objective is the study's best at that
    cost or less, made a hair worse: the rule's verdict ("it would not have beaten the
    frontier here") taken at its bound. The value the engine learns is one it has already
    seen, so the trial never joins the Pareto set; the configuration's region loses its
    promise, and the study's reach along the cost axis is kept. Computed from the engine's
    own successes, so an engine fed trial by trial and one rebuilt by replay agree. A
    failure when no cost was predicted or no success costs as little.
    """

    FAILURE = "failure"
    BOUND = "bound"
    NOTHING = "nothing"
    CENSORED = "censored"


EARLY_STOPPED_FEEDBACK = StoppedFeedback.CENSORED


def observe_trial(engine: CARBS, trial: TrialRecord,
                  stopped_feedback: StoppedFeedback = EARLY_STOPPED_FEEDBACK) -> None:
    """Tell the engine about one trial in whatever phase it is."""
    point = suggestion_input(trial)
    if trial.in_flight:
        if SUGGESTION_ID_DICT_KEY in point:
            engine.add_outstanding_suggestion(point)
    elif trial.phase == TrialPhase.LOST:
        engine.forget_suggestion(point)
    elif trial.phase == TrialPhase.EARLY_STOPPED:
        _observe_stopped(engine, trial, point, stopped_feedback)
    elif _is_success(trial):
        objective, cost = float(trial.objective or 0.0), float(trial.cost or 0.0)
        engine.record_observation(ObservationInParam(point, objective, cost))
    else:
        engine.record_observation(ObservationInParam(point, math.nan, 1.0, is_failure=True))


def _observe_stopped(engine: CARBS, trial: TrialRecord, point: dict[str, float | str],
                     feedback: StoppedFeedback) -> None:
    """An EarlyStopped trial was not measured at its parameters' cost: never a success at
    the cost it had spent."""
    if feedback == StoppedFeedback.NOTHING:
        engine.forget_suggestion(point)
        return
    objective, full_cost = trial.objective, trial.predicted_cost
    known_cost = full_cost is not None and math.isfinite(full_cost) and full_cost > 0
    if (feedback == StoppedFeedback.BOUND and objective is not None and math.isfinite(objective)
            and known_cost and full_cost is not None):
        engine.record_observation(ObservationInParam(point, float(objective), float(full_cost)))
        return
    if feedback == StoppedFeedback.CENSORED and known_cost and full_cost is not None:
        bound = _frontier_bound(engine, full_cost)
        if bound is not None:
            engine.record_observation(ObservationInParam(point, bound, float(full_cost)))
            return
    engine.record_observation(ObservationInParam(point, math.nan, 1.0, is_failure=True))


def _frontier_bound(engine: CARBS, cost: float) -> float | None:
    """The engine's best objective among successes costing at most `cost`, moved a relative
    1e-9 toward worse (a tie would let the censored value into the Pareto set); None when
    no success costs that little."""
    sign = engine.config.better_direction_sign
    values = [o.output * sign for o in engine.success_observations if o.cost <= cost]
    if not values:
        return None
    best = max(values)
    return sign * (best - 1e-9 * max(1.0, abs(best)))


def _is_success(trial: TrialRecord) -> bool:
    return (
        trial.phase == TrialPhase.SUCCEEDED
        and trial.objective is not None
        and math.isfinite(trial.objective)
        and trial.cost is not None
        and math.isfinite(trial.cost)
        and trial.cost > 0
    )


def suggestion_input(trial: TrialRecord) -> dict[str, float | str]:
    point: dict[str, float | str] = dict(trial.params)
    if trial.suggestion_id is not None:
        point[SUGGESTION_ID_DICT_KEY] = trial.suggestion_id
    return point


def scaling_laws(spec: StudySpec, trials: Sequence[TrialRecord]) -> list[ScalingLaw]:
    """The study's scaling-law report from its trial records (replayed on the CPU: the
    report needs no GP, only the frontier).

    Read from measured results only: an EarlyStopped trial's censored value is a bound the
    search may steer by, not a measurement a law (fitted over every success) may pass
    through. The one fit of a study's laws (`study_laws.study_law_fit`), which the
    operator's status, `carbs frontier` and the UI read too.
    """
    from carbs_operator.study_laws import study_law_fit  # it replays through this module

    return list(study_law_fit(spec, trials).scaling_laws())
