"""Versioned JSON state of a CARBS instance, validated on load.

The reference pickled the whole object with torch.save: unsafe to load, broken by torch
2.6's weights_only default, and one file per observation. This is plain, strict JSON (no
NaN or Infinity tokens): unbounded limits and failed outputs are written as null.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from carbs_optimizer.config import CARBSParams
from carbs_optimizer.errors import CarbsError
from carbs_optimizer.observations import ObservationInBasic, SuggestionInBasic
from carbs_optimizer.spaces import (
    SPACE_KINDS,
    CategoricalSpace,
    LogSpace,
    OrdinalSpace,
    Param,
    RealNumberSpace,
)
from carbs_optimizer.surrogate import DTYPE

if TYPE_CHECKING:
    from carbs_optimizer.carbs import CARBS

STATE_FORMAT = "carbs_optimizer/state"
STATE_VERSION = 1


class StateError(CarbsError, ValueError):
    """A state document that is malformed, tampered with or of another version."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class SpaceState(_Strict):
    kind: Literal["linear", "log", "logit", "categorical", "ordinal"]
    min: float | None
    max: float | None
    scale: float
    is_integer: bool
    rounding_factor: int
    base: int | None = None
    # Added without a version bump: a version-1 document without them still loads.
    step: float | None = None
    choices: list[str] | None = None
    values: list[int | float | str] | None = None


class ParamState(_Strict):
    name: str
    space: SpaceState
    search_center: int | float | str


class ObservationState(_Strict):
    input: list[float]
    output: float | None
    cost: float | None
    suggestion_id: str | None = None


class SuggestionState(_Strict):
    id: str
    input: list[float]
    log_info: dict[str, Any] = Field(default_factory=dict)
    created_at: float


class EngineState(_Strict):
    format: Literal["carbs_optimizer/state"]
    version: int
    config: dict[str, Any]
    params: list[ParamState]
    search_center_in_basic: list[float]
    search_radius_in_basic: float
    success_observations: list[ObservationState]
    failure_observations: list[ObservationState]
    outstanding_suggestions: list[SuggestionState]
    resample_count: int = Field(ge=0)
    rng_state: str
    oversample_factor: float = Field(ge=1.0)
    gp_warm_start: dict[str, dict[str, Any]] | None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _space_state(space: RealNumberSpace) -> SpaceState:
    return SpaceState(
        kind=space.kind,
        min=_finite_or_none(space.min),
        max=_finite_or_none(space.max),
        scale=space.scale,
        is_integer=space.is_integer,
        rounding_factor=space.rounding_factor,
        base=space.base if isinstance(space, LogSpace) else None,
        step=space.step,
        choices=list(space.choices) if isinstance(space, CategoricalSpace) else None,
        values=list(space.values) if isinstance(space, OrdinalSpace) else None,
    )


def _observation_state(obs: ObservationInBasic) -> ObservationState:
    return ObservationState(
        input=obs.real_number_input.tolist(),
        output=_finite_or_none(obs.output),
        cost=_finite_or_none(obs.cost),
        suggestion_id=obs.suggestion_id,
    )


def dump_state(engine: CARBS) -> dict[str, Any]:
    """The engine as a JSON-ready dict (`json.dumps(..., allow_nan=False)` accepts it)."""
    state = EngineState(
        format=STATE_FORMAT,
        version=STATE_VERSION,
        config=_json_safe(engine.config.to_dict()),
        params=[
            ParamState(name=p.name, space=_space_state(p.space), search_center=p.search_center)
            for p in engine.params
        ],
        search_center_in_basic=engine.search_center_in_basic.tolist(),
        search_radius_in_basic=engine.search_radius_in_basic,
        success_observations=[_observation_state(o) for o in engine.success_observations],
        failure_observations=[_observation_state(o) for o in engine.failure_observations],
        outstanding_suggestions=[
            SuggestionState(
                id=key, input=s.real_number_input.tolist(), log_info=_json_safe(s.log_info),
                created_at=s.created_at,
            )
            for key, s in engine.outstanding_suggestions.items()
        ],
        resample_count=engine.resample_count,
        rng_state=base64.b64encode(bytes(engine._generator.get_state().tolist())).decode(),
        oversample_factor=engine._oversampler.factor,
        gp_warm_start=engine._gp_warm_start,
    )
    return state.model_dump(mode="json")


def _space_from_state(name: str, state: SpaceState) -> RealNumberSpace:
    kwargs: dict[str, Any] = {
        "scale": state.scale, "is_integer": state.is_integer,
        "rounding_factor": state.rounding_factor,
    }
    if state.kind in ("categorical", "ordinal"):
        entries = state.choices if state.kind == "categorical" else state.values
        if entries is None:
            field = "choices" if state.kind == "categorical" else "values"
            raise StateError(f"params[{name}].space.{field}: required for {state.kind}")
        kwargs = {"choices": entries} if state.kind == "categorical" else {"values": entries}
    elif state.step is not None:
        kwargs["step"] = state.step
    numeric = "scale" in kwargs  # a discrete space derives its bounds from its entries
    if numeric and state.min is not None:
        kwargs["min"] = state.min
    if numeric and state.max is not None:
        kwargs["max"] = state.max
    if state.kind == "log" and state.base is not None:
        kwargs["base"] = state.base
    try:
        return SPACE_KINDS[state.kind](**kwargs)
    except (TypeError, ValueError) as error:
        raise StateError(f"params[{name}].space: {error}") from error


def _vector(values: list[float], dims: int, where: str) -> torch.Tensor:
    if len(values) != dims or not all(math.isfinite(v) for v in values):
        raise StateError(f"{where}: expected {dims} finite coordinates, got {values!r}")
    return torch.tensor(values, dtype=DTYPE)


def load_state(document: dict[str, Any]) -> CARBS:
    """Rebuild a CARBS instance; raises StateError naming what is wrong."""
    from carbs_optimizer.carbs import CARBS
    from carbs_optimizer.sampling import Oversampler

    if not isinstance(document, dict):
        raise StateError("state must be a JSON object")
    if document.get("format") != STATE_FORMAT:
        raise StateError(f"not a CARBS state document (format={document.get('format')!r})")
    if document.get("version") != STATE_VERSION:
        raise StateError(
            f"state version {document.get('version')!r} is not supported (expected {STATE_VERSION})"
        )
    try:
        state = EngineState.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise StateError(f"invalid state: {problems}") from error
    try:
        config = CARBSParams(**state.config)
        params = [
            Param(p.name, _space_from_state(p.name, p.space), p.search_center)
            for p in state.params
        ]
        engine = CARBS(config, params)
    except (TypeError, ValueError) as error:
        raise StateError(f"invalid state: {error}") from error
    dims = len(params)
    engine.search_center_in_basic = _vector(state.search_center_in_basic, dims, "search_center")
    if not (state.search_radius_in_basic > 0 and math.isfinite(state.search_radius_in_basic)):
        raise StateError("search_radius_in_basic must be a positive finite number")
    engine.search_radius_in_basic = state.search_radius_in_basic
    for index, obs in enumerate(state.success_observations):
        where = f"success_observations[{index}]"
        if obs.output is None or obs.cost is None or not obs.cost > 0:
            raise StateError(f"{where}: a success needs a finite output and a positive cost")
        engine.success_observations.append(ObservationInBasic(
            _vector(obs.input, dims, where), obs.output, obs.cost, obs.suggestion_id
        ))
    for index, obs in enumerate(state.failure_observations):
        where = f"failure_observations[{index}]"
        engine.failure_observations.append(ObservationInBasic(
            _vector(obs.input, dims, where), math.nan if obs.output is None else obs.output,
            math.nan if obs.cost is None else obs.cost, obs.suggestion_id,
        ))
    for index, sug in enumerate(state.outstanding_suggestions):
        engine.outstanding_suggestions[sug.id] = SuggestionInBasic(
            _vector(sug.input, dims, f"outstanding_suggestions[{index}]"),
            dict(sug.log_info), sug.created_at,
        )
    engine.resample_count = state.resample_count
    try:
        raw = base64.b64decode(state.rng_state, validate=True)
        engine._generator.set_state(torch.tensor(list(raw), dtype=torch.uint8))
    except (binascii.Error, RuntimeError, ValueError) as error:
        raise StateError(f"rng_state: not a valid generator state ({error})") from error
    engine._oversampler = Oversampler(state.oversample_factor)
    if state.gp_warm_start is not None and config.is_gp_warm_started:
        engine._gp_warm_start = state.gp_warm_start
    return engine
