"""Engine settings: the reference's `CARBSParams`, with the same names and defaults, plus ours."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class OutstandingSuggestionEstimatorEnum(Enum):
    """How a pending suggestion enters the output model until its result arrives."""

    MEAN = "MEAN"  # kriging believer: the posterior mean
    THOMPSON = "THOMPSON"  # a joint posterior sample, so parallel workers spread out
    CONSTANT = "CONSTANT"  # accepted for compatibility; treated as MEAN


@dataclass
class WandbLoggingParams:
    """Accepted so code written for the reference constructs unchanged; we log nothing to wandb."""

    project_name: str | None = None
    group_name: str | None = None
    run_name: str | None = None
    run_id: str | None = None
    is_suggestion_logged: bool = True
    is_observation_logged: bool = True
    is_search_space_logged: bool = True
    root_dir: str = "/mnt/private"


@dataclass
class CARBSParams:
    """Settings of one CARBS search.

    The first block mirrors the reference (same names, same defaults). Fields from
    `is_wandb_logging_enabled` to `is_saved_on_every_observation` are accepted and ignored:
    this engine keeps its state as JSON through `to_state()` instead of wandb checkpoints.
    """

    better_direction_sign: int = 1
    seed: int = 0
    num_random_samples: int = 4
    is_wandb_logging_enabled: bool = False
    wandb_params: WandbLoggingParams = field(default_factory=WandbLoggingParams)
    checkpoint_dir: str = "checkpoints/"
    s3_checkpoint_path: str = ""
    is_saved_on_every_observation: bool = False
    initial_search_radius: float = 0.3
    exploration_bias: float = 1.0
    num_candidates_for_suggestion_per_dim: int = 100
    resample_frequency: int = 5
    max_suggestion_cost: float | None = None
    min_pareto_cost_fraction: float = 0.2
    is_pareto_group_selection_conservative: bool = True
    is_expected_improvement_pareto_value_clamped: bool = True
    is_expected_improvement_value_always_max: bool = False
    outstanding_suggestion_estimator: OutstandingSuggestionEstimatorEnum = (
        OutstandingSuggestionEstimatorEnum.THOMPSON
    )

    # --- ours -------------------------------------------------------------------------
    # GP hyperparameters are fitted by Adam at a learning rate that actually moves them.
    # The reference ran 1000 steps at lr 1e-4 from fixed starting values on every
    # suggestion, which costs ~10 s and leaves the hyperparameters where they started.
    gp_fit_iterations: int = 50
    gp_learning_rate: float = 0.1
    # Later fits start from the previous fit's hyperparameters and need far fewer steps.
    is_gp_warm_started: bool = True
    gp_warm_start_iterations: int = 15
    # Above this many points the GP trains on a subset: the Pareto set, the most recent
    # half and a seeded random sample of the rest (exact GPs are cubic in n).
    max_gp_training_points: int = 512
    # A pending suggestion older than this many seconds is forgotten, so a crashed worker
    # does not leave a fantasy in the model forever. None keeps them until observed.
    outstanding_suggestion_max_age_seconds: float | None = None
    # "auto" takes CUDA when torch sees a GPU, else the CPU.
    device: str = "auto"
    # Spread suggestions along the cost axis (see cost_targets.py): each Bayesian step picks
    # among the candidates predicted nearest a target cost drawn from a bag reaching
    # `cost_target_margin` of the observed log-cost span past both ends; "nearest" means
    # within `cost_target_tolerance` of that span of the closest candidate. False is the
    # reference's behaviour.
    is_cost_targeted: bool = True
    # A suggestion's predicted cost may be at most this multiple of all compute spent so
    # far, so climbing the cost axis cannot spend a budget in a few trials. None: no limit.
    max_cost_growth: float | None = 1.0
    cost_target_margin: float = 0.2
    cost_target_tolerance: float = 0.05
    # Every other interior target goes to the emptiest of this many equal bins of the
    # observed log-cost range instead of the bag's position (cost_targets.fill_position), so
    # trials piled up around the search center give way to the parts not yet measured; so
    # does a target past the top while nothing dearer may be suggested (the cost cap or
    # the growth limit). 0 keeps the bag's positions and aims such targets at the top.
    cost_target_fill_bins: int = 8
    # Resamples pause while the noise measured on re-run points (their pooled standard
    # deviation, once two points have been re-run) is below this fraction of the median
    # step between adjacent frontier points: a repeat cannot move a frontier whose steps
    # dwarf the noise. As the frontier fills in, its steps shrink and resampling resumes.
    # 0 resamples on the reference's schedule regardless.
    resample_noise_ratio: float = 0.25
    # Candidates are also drawn around this many points of the compute-optimal path that
    # one law over every success predicts (allocation.py), spread over the observed
    # log-cost range and one growth step past it, where a line in the parameters explains
    # cost and the law fits. 0: around the frontier's points only. Why: the frontier's own
    # points at the dear end lag the model size and learning rate that all trials together
    # say are compute-optimal (measured in benchmarks/README.md, section 4).
    cost_path_origins: int = 4
    # With cost targets and path origins on, one more path point at this suggestion's own
    # target cost (unless the box's bounds keep the path from reaching it): the window then
    # holds candidates drawn around the configuration the law says is compute-optimal at
    # that cost, not only around the frontier point nearest it (its effect on the suite:
    # benchmarks/README.md, section 4).
    cost_path_origin_at_target: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.outstanding_suggestion_estimator, str):
            self.outstanding_suggestion_estimator = OutstandingSuggestionEstimatorEnum(
                self.outstanding_suggestion_estimator
            )
        if isinstance(self.wandb_params, dict):
            self.wandb_params = WandbLoggingParams(**self.wandb_params)
        self._check()

    def _check(self) -> None:
        problems: list[str] = []
        if self.better_direction_sign not in (1, -1):
            problems.append("better_direction_sign must be 1 (maximize) or -1 (minimize)")
        if self.num_random_samples < 0:
            problems.append("num_random_samples must be >= 0")
        if not (self.initial_search_radius > 0 and math.isfinite(self.initial_search_radius)):
            problems.append("initial_search_radius must be a positive finite number")
        if not math.isfinite(self.exploration_bias):
            problems.append("exploration_bias must be finite")
        if self.num_candidates_for_suggestion_per_dim < 1:
            problems.append("num_candidates_for_suggestion_per_dim must be >= 1")
        if self.resample_frequency < 0:
            problems.append("resample_frequency must be >= 0 (0 disables resampling)")
        if self.max_suggestion_cost is not None and not (
            self.max_suggestion_cost > 0 and math.isfinite(self.max_suggestion_cost)
        ):
            problems.append("max_suggestion_cost must be a positive finite number or None")
        if not 0.0 <= self.min_pareto_cost_fraction <= 1.0:
            problems.append("min_pareto_cost_fraction must lie in [0, 1]")
        if self.gp_fit_iterations < 0 or self.gp_warm_start_iterations < 0:
            problems.append("GP fit iterations must be >= 0")
        if not self.gp_learning_rate > 0:
            problems.append("gp_learning_rate must be positive")
        if self.max_gp_training_points < 8:
            problems.append("max_gp_training_points must be >= 8")
        age = self.outstanding_suggestion_max_age_seconds
        if age is not None and not age > 0:
            problems.append("outstanding_suggestion_max_age_seconds must be positive or None")
        estimator = self.outstanding_suggestion_estimator
        if not isinstance(estimator, OutstandingSuggestionEstimatorEnum):
            problems.append("outstanding_suggestion_estimator must be THOMPSON, MEAN or CONSTANT")
        if not isinstance(self.device, str) or (
            self.device not in ("auto", "cpu") and not self.device.startswith("cuda")
        ):
            problems.append("device must be 'auto', 'cpu' or 'cuda[:N]'")
        growth = self.max_cost_growth
        if growth is not None and not (growth > 0 and math.isfinite(growth)):
            problems.append("max_cost_growth must be a positive finite number or None")
        if self.cost_path_origins < 0:
            problems.append("cost_path_origins must be >= 0 (0 draws around the frontier only)")
        if self.cost_target_fill_bins < 0:
            problems.append("cost_target_fill_bins must be >= 0 (0 keeps the bag's positions)")
        for name in ("cost_target_margin", "cost_target_tolerance", "resample_noise_ratio"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                problems.append(f"{name} must be a non-negative finite number")
        if problems:
            raise ValueError("invalid CARBSParams: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (enums as their names)."""
        out = asdict(self)
        out["outstanding_suggestion_estimator"] = self.outstanding_suggestion_estimator.value
        return out
