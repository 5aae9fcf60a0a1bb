"""CARBS: suggest, observe, forget. Orchestrates spaces, Pareto groups, surrogates, acquisition."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from carbs_optimizer.acquisition import log_expected_improvement
from carbs_optimizer.config import CARBSParams, OutstandingSuggestionEstimatorEnum
from carbs_optimizer.cost_targets import (
    CostTarget,
    fill_position,
    target_logcost,
    target_position,
    window_mask,
)
from carbs_optimizer.discrete import InputEncoding
from carbs_optimizer.errors import CarbsError
from carbs_optimizer.laws.allocation import (
    ObservedAllocation,
    observed_allocation,
)
from carbs_optimizer.laws.fit import LawFit, fit_laws
from carbs_optimizer.laws.scaling import ScalingLaw
from carbs_optimizer.observations import (
    SUGGESTION_ID_DICT_KEY,
    ObservationGroup,
    ObservationInBasic,
    ObservationInParam,
    ObserveOutput,
    ParamDictType,
    SuggestionInBasic,
    SuggestOutput,
)
from carbs_optimizer.pareto import (
    get_pareto_groups,
    get_pareto_groups_conservative,
    group_key,
    group_observations,
    noise_is_negligible,
    observation_group_cost,
    observation_group_output,
    pareto_area_from_groups,
)
from carbs_optimizer.sampling import Oversampler, SearchSpace, sample_candidates
from carbs_optimizer.spaces import Param
from carbs_optimizer.surrogate import (
    DTYPE,
    FitSettings,
    SurrogateModel,
    WarmStartStore,
    exact_gp_settings,
)


class SamplingError(CarbsError, RuntimeError):
    """No point inside the parameter bounds could be sampled around the search center."""


RANDOM, RESAMPLE, BAYESIAN = "random", "resample", "bayesian"
#: Past the observed cost range, a cost target lies at least this far (natural log, ×3).
_MIN_TARGET_STEP = math.log(3.0)
#: The joint law behind the path origins is refitted once the successes grew by 1/this.
_PATH_REFIT_DIVISOR = 10
#: Samples drawn for one random suggestion, so that one not yet tried can be chosen.
_RANDOM_TRIES = 16
#: Two inputs closer than this in basic coordinates are the same point.
_SAME_POINT = 1e-9


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class CARBS:
    """Cost-Aware Pareto Region Bayesian Search (reference-compatible surface).

    Thread-safe: suggest and observe hold one lock, so workers may share an instance. Each
    instance owns its random generator; the global torch/numpy/random seeds are never touched
    (the reference seeded them globally, in the constructor and again on load).
    """

    def __init__(
        self, config: CARBSParams, params: list[Param], clock: Callable[[], float] = time.time
    ) -> None:
        names = [p.name for p in params]
        if not params:
            raise ValueError("CARBS needs at least one Param")
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique, got {names}")
        self.config = config
        self.params = list(params)
        self.param_space_by_name = {p.name: p.space for p in params}
        self.real_dim = len(params)
        self.device = resolve_device(config.device)
        self.search_radius_in_basic = float(config.initial_search_radius)
        self.search_center_in_basic = self._to_basic({p.name: p.search_center for p in params})
        self._space = SearchSpace.from_spaces([p.space for p in params])
        self._encoding = InputEncoding([p.space for p in params])
        self.min_bounds_in_basic = self._space.min_bounds
        self.max_bounds_in_basic = self._space.max_bounds
        self.success_observations: list[ObservationInBasic] = []
        self.failure_observations: list[ObservationInBasic] = []
        self.outstanding_suggestions: dict[str, SuggestionInBasic] = {}
        self.resample_count = 0
        self._generator = torch.Generator().manual_seed(int(config.seed))
        self._oversampler = Oversampler()
        self._gp_warm_start: WarmStartStore | None = {} if config.is_gp_warm_started else None
        self._lock = threading.RLock()
        self._clock = clock
        self._refit_iterations: int | None = None  # set within suggest_batch
        # The joint law behind cost_path_origins, with the success count it was fitted at.
        self._path_law: tuple[int, ObservedAllocation] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """For users who pickle the engine, as the reference allows; the project itself
        never does (its state is `to_state()` JSON). The lock cannot be pickled."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- public API ----------------------------------------------------------------------
    def set_search_center(self, input_in_param: ParamDictType) -> None:
        self.search_center_in_basic = self._to_basic(input_in_param)

    def suggest(
        self, suggestion_id: str | None = None, is_suggestion_remembered: bool = True
    ) -> SuggestOutput:
        """The next point to try; remembered as pending until observed or forgotten."""
        with self._lock, exact_gp_settings():
            self._expire_outstanding()
            return self._suggest(suggestion_id, is_suggestion_remembered)

    def suggest_batch(self, count: int) -> list[SuggestOutput]:
        """`count` suggestions for parallel workers, each remembered, so the later ones see
        the earlier ones as pending (Thompson fantasies spread the batch out). The GP
        hyperparameters are fitted once for the batch."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock, exact_gp_settings():
            self._expire_outstanding()
            saved = self._gp_warm_start
            if saved is None:  # cold fits requested: still fit once per batch, not per item
                self._gp_warm_start = {}
            outputs: list[SuggestOutput] = []
            try:
                for _ in range(count):
                    outputs.append(self._suggest(None, True))
                    if self._gp_warm_start:
                        self._refit_iterations = 0
            finally:
                self._refit_iterations = None
                if saved is None:
                    self._gp_warm_start = None
            return outputs

    def observe(self, new_observation_in_param: ObservationInParam) -> ObserveOutput:
        with self._lock:
            self.record_observation(new_observation_in_param)
            return ObserveOutput(logs=self._observation_log(new_observation_in_param))

    def record_observation(self, observation: ObservationInParam) -> None:
        """`observe` without building its log (which recomputes the frontier): replaying a
        long history through `observe` would cost quadratic time."""
        with self._lock:
            self.forget_suggestion(observation.input)
            self._add_observation(observation)

    def forget_suggestion(self, suggestion_to_forget: ParamDictType) -> None:
        """Drop a pending suggestion (by its `suggestion_uuid`), e.g. when its worker died."""
        with self._lock:
            suggestion_id = suggestion_to_forget.get(SUGGESTION_ID_DICT_KEY)
            if suggestion_id is not None:
                self.outstanding_suggestions.pop(str(suggestion_id), None)

    def add_outstanding_suggestion(self, suggestion: ParamDictType) -> None:
        """Remember a suggestion made earlier (by another instance, before a restart), so
        the model treats its point as pending; keyed by its `suggestion_uuid`."""
        suggestion_id = suggestion.get(SUGGESTION_ID_DICT_KEY)
        if suggestion_id is None:
            raise ValueError(f"a pending suggestion needs its {SUGGESTION_ID_DICT_KEY!r}")
        with self._lock:
            self.outstanding_suggestions[str(suggestion_id)] = SuggestionInBasic(
                self._to_basic(suggestion), {}, self._clock()
            )

    def initialize_from_observations(
        self, observations: list[ObservationInParam]
    ) -> ObserveOutput:
        """Add past results at once and move the search center to the best success."""
        with self._lock:
            for observation in observations:
                self._add_observation(observation)
            sign = self.config.better_direction_sign
            successes = [
                o for o in observations if not o.is_failure and math.isfinite(float(o.output))
            ]
            if successes:
                best = max(successes, key=lambda o: float(o.output) * sign)
                self.set_search_center(best.input)
            return ObserveOutput(logs={})

    def scaling_laws(self) -> list[ScalingLaw]:
        """Each parameter's scaling law: its slope along the compute-optimal path of one law
        over every success where that law can be fitted (allocation.observed_scaling_laws),
        else its line against log10 cost over the Pareto frontier; each with its 80%
        interval and verdict (laws/intervals.py), the same for the same successes. It is
        `law_fit().scaling_laws()`."""
        return self.law_fit().scaling_laws()

    def law_fit(self) -> LawFit:
        """The one fit every law of this engine's successes is read from (laws/fit.py): its
        Pareto frontier (every non-dominated group, no cheap-cost bucket) and the joint law
        over every success."""
        with self._lock:
            successes = list(self.success_observations)
        # The fit (and the laws' bootstrap after it) takes a second or so on thousands of
        # trials: outside the lock, so a suggest() or observe() from another thread does
        # not wait for it.
        return fit_laws(self.params, successes, self.config.better_direction_sign)

    def pareto_groups(self, conservative: bool | None = None) -> tuple[ObservationGroup, ...]:
        if conservative is None:
            conservative = self.config.is_pareto_group_selection_conservative
        with self._lock:
            return self._pareto_groups(conservative)

    def basic_to_param(self, real_number_input: Tensor) -> ParamDictType:
        """Param-space values (rounded) of a d-vector of basic coordinates."""
        return self._to_param(real_number_input)

    @property
    def gp_fit_state(self) -> WarmStartStore | None:
        """The last fitted GP hyperparameters (JSON-ready), to warm-start another instance
        over the same search, e.g. one rebuilt from trial records; None when not warm-started."""
        return self._gp_warm_start

    @gp_fit_state.setter
    def gp_fit_state(self, state: WarmStartStore | None) -> None:
        if self.config.is_gp_warm_started:
            self._gp_warm_start = dict(state or {})

    @property
    def cumulative_cost(self) -> float:
        return sum(o.cost for o in self.success_observations)

    @property
    def observation_count(self) -> int:
        return len(self.success_observations) + len(self.failure_observations)

    def to_state(self) -> dict[str, Any]:
        from carbs_optimizer.state import dump_state

        with self._lock:
            return dump_state(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CARBS:
        from carbs_optimizer.state import load_state

        return load_state(state)

    # -- conversions ---------------------------------------------------------------------
    def _to_basic(self, input_in_param: ParamDictType) -> Tensor:
        values = []
        for param in self.params:
            if param.name not in input_in_param:
                raise ValueError(f"input lacks parameter {param.name!r}")
            raw = input_in_param[param.name]
            try:  # each space refuses what it cannot hold (a string for a number, ...)
                basic = param.space.basic_from_param(raw)
            except ValueError as error:
                raise ValueError(f"parameter {param.name!r}: {error}") from None
            if not math.isfinite(basic):
                raise ValueError(f"parameter {param.name!r}: {raw!r} has no finite coordinate")
            values.append(basic)
        return torch.tensor(values, dtype=DTYPE)

    def _to_param(self, basic: Tensor) -> ParamDictType:
        return {
            p.name: p.space.param_from_basic(float(v))
            for p, v in zip(self.params, basic.tolist(), strict=True)
        }

    # -- observations --------------------------------------------------------------------
    def _add_observation(self, observation: ObservationInParam) -> None:
        basic = self._to_basic(observation.input)
        suggestion_id = observation.input.get(SUGGESTION_ID_DICT_KEY)
        output = float(observation.output)
        cost = float(observation.cost)
        record = ObservationInBasic(
            basic, output, cost, str(suggestion_id) if suggestion_id is not None else None
        )
        if observation.is_failure or not math.isfinite(output):
            self.failure_observations.append(record)
            return
        if not (math.isfinite(cost) and cost > 0):
            raise ValueError(f"a successful observation needs a positive finite cost, got {cost}")
        self.success_observations.append(record)

    def _observation_log(self, observation: ObservationInParam) -> dict[str, Any]:
        log: dict[str, Any] = {
            "observation_count": self.observation_count,
            "cumulative_cost": self.cumulative_cost,
            "failed_observation_count": len(self.failure_observations),
            "observation/is_failure": int(bool(observation.is_failure)),
        }
        if not observation.is_failure:  # the reference's keys, e.g. for its demo notebook
            log["observation/output"] = observation.output
            log["observation/cost"] = observation.cost
        for name in self.param_space_by_name:
            log[f"observation/{name}"] = observation.input.get(name)
        if self.success_observations:
            sign = self.config.better_direction_sign
            best = max(self.success_observations, key=lambda o: o.output * sign)
            for name, value in self._to_param(best.real_number_input).items():
                log[f"best_observation/{name}"] = value
            log["best_observation/output"] = best.output
            log["best_observation/cost"] = best.cost
            groups = self._pareto_groups(self.config.is_pareto_group_selection_conservative)
            log["pareto_group_count"] = len(groups)
            log["pareto_area"] = pareto_area_from_groups(groups)
        return log

    def _pareto_groups(self, conservative: bool) -> tuple[ObservationGroup, ...]:
        grouped = group_observations(self.success_observations)
        pick = get_pareto_groups_conservative if conservative else get_pareto_groups
        config = self.config
        return pick(grouped, config.min_pareto_cost_fraction, config.better_direction_sign)

    # -- suggestions ---------------------------------------------------------------------
    def _expire_outstanding(self) -> None:
        max_age = self.config.outstanding_suggestion_max_age_seconds
        if max_age is None:
            return
        cutoff = self._clock() - max_age
        for key in [k for k, s in self.outstanding_suggestions.items() if s.created_at < cutoff]:
            del self.outstanding_suggestions[key]

    def _is_random_sampling(self) -> bool:
        # At least one success is needed to fit anything, whatever num_random_samples says.
        return len(self.success_observations) < max(self.config.num_random_samples, 1)

    def _is_resample_due(self) -> bool:
        """Every `resample_frequency` successes, as in the reference (suggestions 7, 12, 17,
        ... of a sequential loop at the default 5).

        Unlike the reference, a backlog collapses into one resample: after
        `initialize_from_observations` or a replay of 100 results the reference would
        resample 19 times in a row before its next Bayesian step. And a due resample is
        skipped while the measured noise could not move the frontier
        (`_noise_is_negligible`).
        """
        frequency = self.config.resample_frequency
        if frequency <= 0:
            return False
        successes = len(self.success_observations)
        self.resample_count = max(self.resample_count, (successes - 1) // frequency - 1)
        due = successes > (self.resample_count + 1) * frequency
        return due and not self._noise_is_negligible()

    def _noise_is_negligible(self) -> bool:
        """The reference resamples one suggestion in five whatever the noise. Where
        replicates differ far less than adjacent frontier points do, a repeat cannot change
        the frontier: it only spends a trial (cheapest first, all at its cheap end)."""
        ratio = self.config.resample_noise_ratio
        return ratio > 0 and noise_is_negligible(
            group_observations(self.success_observations), ratio,
            self.config.better_direction_sign,
        )

    def _suggest(self, suggestion_id: str | None, remember: bool) -> SuggestOutput:
        if self._is_random_sampling():
            basic, log = self._random_suggestion(self.search_center_in_basic.unsqueeze(0)), {}
            log["suggestion_kind"] = RANDOM
        elif self._is_resample_due() and (resample := self._resample_suggestion()) is not None:
            basic, log = resample, {"suggestion_kind": RESAMPLE}
        else:
            found = self._bayesian_suggestion()
            if found is None:
                origins = self._sampling_origins(self._pareto_groups(True))
                basic = self._random_suggestion(origins)
                log = {"suggestion_kind": RANDOM, "fallback": "no candidate inside the bounds"}
            else:
                basic, log = found
        suggestion = self._to_param(basic)
        if remember:
            if suggestion_id is None:
                suggestion_id = self._new_id()
            suggestion[SUGGESTION_ID_DICT_KEY] = suggestion_id
            self.outstanding_suggestions[suggestion_id] = SuggestionInBasic(
                basic, dict(log), self._clock()
            )
        return SuggestOutput(suggestion=suggestion, log={**log, **self._reference_log(suggestion)})

    def _reference_log(self, suggestion: ParamDictType) -> dict[str, Any]:
        """The reference's suggestion-log keys, beside ours (which stay unprefixed)."""
        log: dict[str, Any] = {
            "observation_count": self.observation_count,
            "cumulative_cost": self.cumulative_cost,
            "failed_observation_count": len(self.failure_observations),
        }
        log.update({f"suggestion/{name}": value for name, value in suggestion.items()})
        return log

    def _new_id(self) -> str:
        bits = torch.randint(0, 2**62, (3,), generator=self._generator).tolist()
        value = (bits[0] << 66) | (bits[1] << 4) | (bits[2] & 0xF)
        return str(uuid.UUID(int=value % (1 << 128), version=4))

    def _origins(self, groups: Sequence[ObservationGroup]) -> Tensor:
        return torch.stack([group[0].real_number_input for group in groups])

    def _origin_groups(self, groups: Sequence[ObservationGroup]) -> list[ObservationGroup]:
        """The Pareto groups plus the strict frontier from the cheapest success up.

        The Pareto groups start at the `min_pareto_cost_fraction` quantile of cost, so no
        candidate was ever drawn around the cheapest points: measured from a mid-range
        search center, the frontier then grew downward by a few percent per suggestion and
        the cheap levels stayed empty. Drawing around the strict frontier too lets a cheap
        cost target be reached in a few steps.
        """
        strict = get_pareto_groups(
            group_observations(self.success_observations), 0.0, self.config.better_direction_sign
        )
        seen = {group_key(g[0]) for g in groups}
        return list(groups) + [g for g in strict if group_key(g[0]) not in seen]

    def _sampling_origins(self, groups: Sequence[ObservationGroup]) -> Tensor:
        """The frontier points candidates are drawn around (k x d): those inside the bounds,
        or the search center when none is. A point observed outside them (older data, or
        bounds narrowed since) would otherwise leave every candidate rejected."""
        origins = self._origins(groups)
        inside = origins[self._space.inside(origins, strict=False)]
        return inside if inside.shape[0] else self.search_center_in_basic.unsqueeze(0)

    def _path_origins(self, groups: Sequence[ObservationGroup],
                      target: CostTarget | None) -> Tensor | None:
        """Points of the compute-optimal path (k x d) at `cost_path_origins` costs spread
        evenly in log over the observed range and one growth step past it, plus one at this
        suggestion's `target` cost (`cost_path_origin_at_target`); None where no joint law
        fits (allocation.py).

        The frontier's points are each tuned only by the trials near their own cost, and a
        search is always short of those at the dear end: the model size they split compute
        by and the learning rate they use lag what every trial together says. The path
        pools all of them. A discrete parameter (no path) keeps the value of the frontier
        point nearest in cost.
        """
        count = self.config.cost_path_origins
        if not count or not groups:
            return None
        successes = self.success_observations
        cached = self._path_law
        # Refitted once the successes grew by a tenth: the law moves little with one more
        # trial, and a fit costs 0.1-0.3 s at 60-1000 trials (several times a suggestion).
        if cached is None or not 0 <= len(successes) - cached[0] < max(
                1, cached[0] // _PATH_REFIT_DIVISOR):
            sign = self.config.better_direction_sign
            strict = get_pareto_groups(group_observations(successes), 0.0, sign)
            cached = (len(successes), observed_allocation(self.params, successes, strict, -sign))
            self._path_law = cached
        fitted = cached[1]
        if fitted.allocation is None:
            return None
        log_costs = [math.log(o.cost) for o in successes if o.cost > 0]
        low, high = min(log_costs), max(log_costs) + _MIN_TARGET_STEP
        group_costs = torch.tensor([math.log(observation_group_cost(g)) for g in groups])
        allocation = fitted.allocation
        paths = [(log_cost, allocation.basic(allocation.law, math.exp(log_cost)))
                 for log_cost in torch.linspace(low, high, count).tolist()]
        if target is not None and self.config.cost_path_origin_at_target:
            at_target = allocation.basic(allocation.law, math.exp(target.log_cost))
            reached = math.log(10.0) * allocation.cost_line.log_cost(at_target)
            # Left out where the box's bounds hold the path away from the target (below the
            # cheapest success with the cost drivers at their lower bounds, say): candidates
            # around it would repeat the corner that the floor rule steers away from.
            if abs(reached - target.log_cost) <= target.tolerance:
                paths.append((target.log_cost, at_target))
        points = []
        for log_cost, path in paths:
            nearest = groups[int(torch.argmin((group_costs - log_cost).abs()))]
            point = nearest[0].real_number_input.clone()
            point[list(fitted.numeric)] = torch.as_tensor(path, dtype=point.dtype)
            points.append(point)
        return torch.stack(points)

    def _random_suggestion(self, origins: Tensor) -> Tensor:
        """One sample around the origins, a point not yet tried when one can be found."""
        samples, _ = sample_candidates(
            self._space, origins, self.search_radius_in_basic, _RANDOM_TRIES, self._generator,
            self._oversampler,
        )
        if samples.shape[0] == 0:
            raise SamplingError(
                "no point inside the parameter bounds could be sampled around the search "
                f"center (radius {self.search_radius_in_basic}); check the bounds and centers"
            )
        novel = samples[self._novel(samples)]
        return novel[0] if novel.shape[0] else samples[0]

    def _novel(self, candidates: Tensor) -> Tensor:
        """m booleans: the candidate (m x d, rounded) repeats no observed or pending point.

        After integer rounding, many candidates land on points already tried; suggesting
        one again wastes a trial on a result the model already has (a resample is the one
        deliberate repeat, and does not come through here).
        """
        known = [o.real_number_input for o in self.success_observations]
        known += [o.real_number_input for o in self.failure_observations]
        known += [s.real_number_input for s in self.outstanding_suggestions.values()]
        if not known or candidates.shape[0] == 0:
            return torch.ones(candidates.shape[0], dtype=torch.bool)
        distance = torch.cdist(candidates, torch.stack(known).to(candidates.dtype))
        return distance.min(dim=-1).values > _SAME_POINT

    def _resample_suggestion(self) -> Tensor | None:
        """Re-run the least-sampled frontier point, cheapest first, to average out noise.

        Only points inside the bounds are re-run (None when there is none): an observation
        may lie outside them (`initialize_from_observations` of older data, or a study whose
        bounds were narrowed and replayed), and the reference would re-suggest it verbatim.
        """
        groups = sorted(self._pareto_groups(conservative=False), key=observation_group_cost)
        self.resample_count += 1
        inside = self._space.inside(self._origins(groups), strict=False).tolist()
        groups = [group for group, ok in zip(groups, inside, strict=True) if ok]
        if not groups:
            return None
        pending = [group_key(ObservationInBasic(s.real_number_input, 0.0))
                   for s in self.outstanding_suggestions.values()]
        counts = [len(g) + pending.count(group_key(g[0])) for g in groups]
        chosen = groups[counts.index(min(counts))]
        return chosen[0].real_number_input.clone()

    def _training_index(self, groups: Sequence[ObservationGroup]) -> Tensor | None:
        """Which successes the GP trains on once there are more than it can afford: the
        Pareto set first, then the most recent half of the rest, then a seeded random half.
        This costs fidelity far from the frontier and in old regions, where CARBS samples
        least anyway."""
        n = len(self.success_observations)
        limit = self.config.max_gp_training_points
        if n <= limit:
            return None
        on_frontier = {id(obs) for group in groups for obs in group}
        chosen = [i for i, o in enumerate(self.success_observations) if id(o) in on_frontier]
        chosen = chosen[-limit:]
        rest = [i for i in range(n) if id(self.success_observations[i]) not in on_frontier]
        room = limit - len(chosen)
        recent = rest[len(rest) - room // 2:] if room // 2 > 0 else []
        older = rest[: len(rest) - len(recent)]
        need = room - len(recent)
        if need > 0 and older:
            pick = torch.randperm(len(older), generator=self._generator)[:need].tolist()
            chosen += [older[i] for i in pick]
        chosen += recent
        return torch.tensor(sorted(chosen), dtype=torch.long)

    def _surrogate(self) -> SurrogateModel:
        fit = FitSettings(self.config.gp_fit_iterations, self.config.gp_learning_rate)
        iterations = self._refit_iterations
        if iterations is None:
            iterations = self.config.gp_warm_start_iterations
        warm = FitSettings(iterations, self.config.gp_learning_rate)
        return SurrogateModel(
            dims=self._encoding.dims, better_direction_sign=self.config.better_direction_sign,
            radius=self.search_radius_in_basic, device=self.device, fit=fit, warm_fit=warm,
            warm_start=self._gp_warm_start, generator=self._generator,
            encode=self._encoding.encode,
        )

    def _bayesian_suggestion(self) -> tuple[Tensor, dict[str, Any]] | None:
        config = self.config
        successes = self.success_observations
        groups = self._pareto_groups(config.is_pareto_group_selection_conservative)
        inputs = torch.stack([o.real_number_input for o in successes])
        fit_began = time.perf_counter()
        model = self._surrogate()
        train_index = self._training_index(groups)
        model.fit_observations(
            inputs, [o.output for o in successes], [o.cost for o in successes], train_index
        )
        if self.outstanding_suggestions:
            pending = torch.stack(
                [s.real_number_input for s in self.outstanding_suggestions.values()]
            )
            thompson = config.outstanding_suggestion_estimator is (
                OutstandingSuggestionEstimatorEnum.THOMPSON
            )
            model.fit_suggestions(pending, thompson)
        if self.failure_observations:
            failures = torch.stack([o.real_number_input for o in self.failure_observations])
            limit = config.max_gp_training_points
            success_inputs = inputs if train_index is None else inputs[train_index]
            model.fit_failures(success_inputs[-limit:], failures[-limit:])
        frontier = [obs for group in groups for obs in group]
        model.fit_pareto_set([o.output for o in frontier], [o.cost for o in frontier])
        fit_seconds = time.perf_counter() - fit_began

        origins = self._sampling_origins(self._origin_groups(groups))
        target = self._cost_target()
        path = self._path_origins(groups, target)
        if path is not None:
            origins = torch.cat([origins, path.to(origins.dtype)])
        count = config.num_candidates_for_suggestion_per_dim * self.real_dim
        candidates, log_density = sample_candidates(
            self._space, origins, self.search_radius_in_basic, count, self._generator,
            self._oversampler,
        )
        novel = self._novel(candidates)
        if bool(novel.any()):  # a space small enough to be exhausted may repeat a point
            candidates, log_density = candidates[novel], log_density[novel]
        if candidates.shape[0] == 0:
            return None
        prediction = model.predict(candidates)
        best = prediction.pareto_surrogate
        if config.is_expected_improvement_pareto_value_clamped:
            best = torch.clamp(best, min=self._clamp_value(model, groups))
        if config.is_expected_improvement_value_always_max:  # ablation only
            best = torch.full_like(
                best, model.target_to_surrogate(observation_group_output(groups[-1]))
            )
        log_ei = log_expected_improvement(
            prediction.surrogate_output, prediction.surrogate_var, best, config.exploration_bias
        )
        score = log_ei + log_density.to(log_ei.device) + prediction.log_success_probability
        log: dict[str, Any] = {"suggestion_kind": BAYESIAN, "gp_fit_seconds": fit_seconds}
        if config.max_suggestion_cost is not None:
            affordable = prediction.cost_estimate < config.max_suggestion_cost
            if bool(affordable.any()):
                score = torch.where(affordable, score, torch.full_like(score, -math.inf))
            else:
                # The reference asserted here and then fell back to a random point that
                # ignored the cost limit. We take the candidate predicted to be cheapest.
                score = -prediction.cost_estimate
                log["cost_limit_unmet"] = True
        if config.max_cost_growth is not None and "cost_limit_unmet" not in log:
            score = self._pace_cost(score, prediction.cost_estimate, log)
        if target is not None and "cost_limit_unmet" not in log:
            score = self._aim_at_cost_target(score, prediction.cost_estimate, log, target)
        best_index = int(torch.argmax(score))
        log.update(
            surrogate_output=float(prediction.surrogate_output[best_index]),
            surrogate_var=float(prediction.surrogate_var[best_index]),
            pareto_surrogate=float(best[best_index]),
            cost_estimate=float(prediction.cost_estimate[best_index]),
            target_estimate=float(prediction.target_estimate[best_index]),
            log_expected_improvement=float(log_ei[best_index]),
            log_search_density=float(log_density[best_index]),
            success_probability=float(prediction.log_success_probability[best_index].exp()),
            candidate_count=int(candidates.shape[0]),
        )
        return candidates[best_index].clone(), log

    def _pace_cost(self, score: Tensor, cost_estimate: Tensor, log: dict[str, Any]) -> Tensor:
        """Drop candidates predicted to cost more than `max_cost_growth` times all the
        compute spent so far (successes and failures).

        Without it a study that climbs the cost axis spends its whole budget in a few
        trials: measured from a mid-range center, four suggestions after the random phase
        each cost about three times everything before, and the fourth alone overran a
        budget meant for 60 trials. With the limit the dearest trial grows at most
        geometrically with the spend, and most of any budget buys more than one trial.
        """
        assert self.config.max_cost_growth is not None
        spent = sum(o.cost for o in self.success_observations) + sum(
            o.cost for o in self.failure_observations
        )
        eligible = torch.isfinite(score)
        if not bool(eligible.any()):
            return score
        # When every candidate is dearer than the limit, the cheapest of them still is.
        cheapest = float(cost_estimate[eligible].min())
        limit = max(self.config.max_cost_growth * spent, cheapest)
        within = cost_estimate <= limit
        log["cost_growth_limit"] = limit
        return torch.where(within, score, torch.full_like(score, -math.inf))

    def _aim_at_cost_target(self, score: Tensor, cost_estimate: Tensor, log: dict[str, Any],
                            cost_target: CostTarget) -> Tensor:
        """Keep only the candidates predicted closest to this suggestion's target cost."""
        config = self.config
        position, low, high = cost_target.position, cost_target.low, cost_target.high
        if cost_target.filled:
            log["cost_target_filled"] = True
        target, tolerance = cost_target.log_cost, cost_target.tolerance
        predicted = torch.log(cost_estimate)
        eligible = torch.isfinite(score)
        if not bool(eligible.any()):
            return score
        if (target > high and config.cost_target_fill_bins
                and float(predicted[eligible].max()) < high + tolerance):
            # No candidate may cost more than the dearest success (`max_suggestion_cost` or
            # the growth limit holds the top): the window would pick the dearest candidates
            # again and again, piling trials up just under the cap; an emptier part of the
            # cost range is filled instead (measured in benchmarks/README.md, section 4).
            position = fill_position(
                self._trial_log_costs(), low, high, config.cost_target_fill_bins,
                tie=position - 1.0,
            )
            target = target_logcost(position, low, high, _MIN_TARGET_STEP)
            log["cost_target_ceiling_reached"] = True
        if target < low and float(predicted[eligible].min()) > low - tolerance:
            # No candidate is predicted cheaper than the cheapest success: the cost-driving
            # parameters are at their lower bounds. Aiming there anyway put one suggestion in
            # six at that floor, again and again. Such a suggestion is left to expected
            # improvement alone (spent where the model expects most, often on a non-cost
            # parameter), which measured better than aiming it at the dear end
            # (benchmarks/README.md, section 4).
            log["cost_target_floor_reached"] = True
            return score
        mask = window_mask(
            torch.where(eligible, predicted, torch.full_like(predicted, math.inf)),
            target, tolerance,
        ) & eligible
        log.update(cost_target=math.exp(target), cost_target_position=position)
        return torch.where(mask, score, torch.full_like(score, -math.inf))

    def _cost_target(self) -> CostTarget | None:
        """This suggestion's cost target; None when cost targeting is off."""
        config = self.config
        if not config.is_cost_targeted:
            return None
        log_costs = [math.log(o.cost) for o in self.success_observations]
        index = len(self.success_observations) + len(self.failure_observations) + len(
            self.outstanding_suggestions
        )
        position = target_position(config.seed, index, config.cost_target_margin)
        low, high = min(log_costs), max(log_costs)
        filled = bool(config.cost_target_fill_bins and 0.0 <= position <= 1.0
                      and index % 2 == 0)
        if filled:
            position = fill_position(
                self._trial_log_costs(), low, high, config.cost_target_fill_bins, tie=position
            )
        return CostTarget(
            position=position, low=low, high=high, filled=filled,
            log_cost=target_logcost(position, low, high, _MIN_TARGET_STEP),
            tolerance=config.cost_target_tolerance * max(high - low, _MIN_TARGET_STEP),
        )

    def _trial_log_costs(self) -> list[float]:
        """Log costs of every trial so far: successes, failures with a cost, and pending
        suggestions at their predicted cost (so a batch spreads over the emptiest parts
        instead of filling one). Pending points without a prediction (random phase, or
        re-added after a restart) are not counted."""
        costs = [o.cost for o in self.success_observations]
        costs += [o.cost for o in self.failure_observations]
        pending = self.outstanding_suggestions.values()
        costs += [s.log_info.get("cost_estimate", 0.0) for s in pending]
        return [
            math.log(c) for c in costs
            if isinstance(c, float | int) and c > 0 and math.isfinite(c)
        ]

    def _clamp_value(self, model: SurrogateModel, groups: Sequence[ObservationGroup]) -> float:
        """The frontier's surrogate value at a cost drawn log-uniformly along it: a candidate
        must beat the frontier there, which pushes the search toward higher cost."""
        log_low = math.log(observation_group_cost(groups[0]))
        log_high = math.log(observation_group_cost(groups[-1])) if len(groups) > 1 else log_low
        if self.config.max_suggestion_cost is not None:
            log_high = min(log_high, math.log(self.config.max_suggestion_cost))
        u = float(torch.rand(1, generator=self._generator, dtype=DTYPE))
        return model.pareto_surrogate_for_cost(math.exp(log_low + u * (log_high - log_low)))
