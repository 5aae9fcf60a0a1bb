"""Records that pass in and out of the engine, in param space and in basic space."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

ParamDictType = dict[str, Any]
SUGGESTION_ID_DICT_KEY = "suggestion_uuid"


@dataclass
class ObservationInParam:
    """One finished trial as the user reports it (reference-compatible)."""

    input: ParamDictType
    output: float
    cost: float = 1.0
    is_failure: bool = False


@dataclass
class ObservationInBasic:
    """An observation with its input as a d-vector of basic coordinates."""

    real_number_input: Tensor
    output: float
    cost: float = 1.0
    suggestion_id: str | None = None


@dataclass
class SuggestionInBasic:
    """A pending suggestion: its basic coordinates, how it was chosen, and when."""

    real_number_input: Tensor
    log_info: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class SuggestOutput:
    """`suggestion` holds every param plus `suggestion_uuid`; `log` says how it was chosen."""

    suggestion: ParamDictType
    log: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObserveOutput:
    logs: dict[str, Any] = field(default_factory=dict)


ObservationGroup = tuple[ObservationInBasic, ...]
