"""The gpytorch surrogates: output and cost (one batched GP), success, and the Pareto curve.

Conventions: n observations, m candidates, p pending suggestions, d dimensions. Inputs are
basic coordinates minus the training mean: the reference fed raw coordinates, so its linear
kernel term grew with the distance from the origin and dominated far from it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, cast

import gpytorch
import numpy as np
import torch
from sklearn.preprocessing import QuantileTransformer
from torch import Tensor

from carbs_optimizer.acquisition import log_success_probability

DTYPE = torch.float64
# A pending resample sits exactly on a training input, and predicting there is intended.
# Filtered once, narrowly, at import: catch_warnings() per call is not thread-safe, and the
# operator suggests from worker threads.
warnings.filterwarnings(
    "ignore", message="The input matches the stored training data",
    category=gpytorch.utils.warnings.GPInputWarning,
)
# Raw hyperparameter values by model role, kept between fits to warm-start the next one.
WarmStartStore = dict[str, dict[str, list[Any]]]


@contextmanager
def exact_gp_settings() -> Iterator[None]:
    """Cholesky everywhere: our n stays small enough that exact solves beat CG."""
    with ExitStack() as stack:
        stack.enter_context(gpytorch.settings.max_cholesky_size(1_000_000))
        stack.enter_context(
            gpytorch.settings.fast_computations(
                covar_root_decomposition=False, log_prob=False, solves=False
            )
        )
        stack.enter_context(gpytorch.settings.cholesky_max_tries(6))
        yield


class _ExactGP(gpytorch.models.ExactGP):  # type: ignore[misc]
    def __init__(
        self,
        train_x: Tensor,
        train_y: Tensor,
        likelihood: gpytorch.likelihoods.GaussianLikelihood,
        kernel: gpytorch.kernels.Kernel,
        batch_shape: torch.Size,
    ) -> None:
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = gpytorch.means.ZeroMean(batch_shape=batch_shape)
        self.covar_module = kernel

    def forward(self, x: Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def _likelihood(batch_shape: torch.Size) -> gpytorch.likelihoods.GaussianLikelihood:
    # Noise prior from HEBO, as in the reference; the floor plays the part of its 1e-4 jitter.
    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_prior=gpytorch.priors.LogNormalPrior(math.log(1e-2), 0.5),
        noise_constraint=gpytorch.constraints.GreaterThan(1e-4),
        batch_shape=batch_shape,
    )
    likelihood.noise = 1e-2
    return likelihood


def _input_kernel(dims: int, radius: float, batch_shape: torch.Size) -> gpytorch.kernels.Kernel:
    """Linear + Matern-3/2 with one lengthscale per dimension, starting at the search radius."""
    matern = gpytorch.kernels.MaternKernel(
        nu=1.5,
        ard_num_dims=dims,
        batch_shape=batch_shape,
        lengthscale_constraint=gpytorch.constraints.Interval(1e-2, 1e2),
    )
    matern.lengthscale = radius
    scaled = gpytorch.kernels.ScaleKernel(matern, batch_shape=batch_shape)
    linear = gpytorch.kernels.LinearKernel(batch_shape=batch_shape)
    linear.variance = 0.1
    return gpytorch.kernels.AdditiveKernel(linear, scaled)


def _curve_kernel() -> gpytorch.kernels.Kernel:
    rbf = gpytorch.kernels.RBFKernel(
        lengthscale_constraint=gpytorch.constraints.Interval(1e-2, 1e2)
    )
    rbf.lengthscale = 0.5
    return gpytorch.kernels.ScaleKernel(rbf)


@dataclass
class FitSettings:
    iterations: int
    learning_rate: float


def _load_warm_start(model: _ExactGP, saved: dict[str, list[Any]] | None) -> bool:
    if not saved:
        return False
    named = dict(model.named_parameters())
    if set(named) != set(saved):
        return False
    with torch.no_grad():
        values = {}
        for name, param in named.items():
            try:
                value = torch.tensor(saved[name], dtype=param.dtype, device=param.device)
            except (TypeError, ValueError):
                return False
            if value.shape != param.shape or not torch.isfinite(value).all():
                return False
            values[name] = value
        for name, param in named.items():
            param.copy_(values[name])
    return True


def _save_warm_start(model: _ExactGP) -> dict[str, list[Any]]:
    return {name: p.detach().cpu().tolist() for name, p in model.named_parameters()}


def train_gp(model: _ExactGP, settings: FitSettings) -> None:
    """Maximum a posteriori hyperparameters by Adam; the last finite point wins."""
    likelihood = model.likelihood
    model.train()
    likelihood.train()
    if settings.iterations > 0:
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
        params = list(model.parameters())
        last_good = [p.detach().clone() for p in params]
        inputs, targets = model.train_inputs[0], model.train_targets
        for _ in range(settings.iterations):
            optimizer.zero_grad()
            try:
                loss = -mll(model(inputs), targets).sum()
            except (RuntimeError, ValueError):  # a non-PSD matrix at an extreme step
                break
            if not torch.isfinite(loss):
                break
            last_good = [p.detach().clone() for p in params]
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            for param, good in zip(params, last_good, strict=True):
                param.copy_(good)
    model.eval()
    likelihood.eval()


class OutputWarp:
    """Outputs to a standard normal by empirical quantiles (⌊√n⌋ of them, as the reference
    does), times the direction sign, so the surrogate is always "higher is better"."""

    def __init__(self, outputs: np.ndarray, sign: int) -> None:
        self.sign = sign
        self.constant = len(outputs) < 2 or float(np.ptp(outputs)) == 0.0
        self.center = float(outputs.mean()) if len(outputs) else 0.0
        self.transformer: QuantileTransformer | None = None
        if not self.constant:
            n_quantiles = min(len(outputs), max(2, int(math.sqrt(len(outputs)))))
            self.transformer = QuantileTransformer(
                output_distribution="normal", n_quantiles=n_quantiles
            )
            self.transformer.fit(outputs.reshape(-1, 1))

    def to_surrogate(self, outputs: np.ndarray) -> np.ndarray:
        if self.transformer is None:
            return np.zeros_like(outputs, dtype=np.float64)
        warped = self.transformer.transform(outputs.reshape(-1, 1)).reshape(outputs.shape)
        return cast(np.ndarray, warped * self.sign)

    def to_target(self, surrogate: np.ndarray) -> np.ndarray:
        if self.transformer is None:
            return np.full_like(surrogate, self.center, dtype=np.float64)
        unwarped = self.transformer.inverse_transform((surrogate * self.sign).reshape(-1, 1))
        return cast(np.ndarray, unwarped.reshape(surrogate.shape))


class CostWarp:
    """log(cost) scaled min-max to [-1, 1] over the successes."""

    def __init__(self, costs: np.ndarray) -> None:
        log_costs = np.log(costs)
        self.low, self.high = float(log_costs.min()), float(log_costs.max())
        self.half_range = (self.high - self.low) / 2 or 1.0
        self.mid = (self.high + self.low) / 2

    def to_logcost(self, costs: Tensor) -> Tensor:
        return (torch.log(costs) - self.mid) / self.half_range

    def to_cost(self, logcost: Tensor) -> Tensor:
        return torch.exp(logcost * self.half_range + self.mid)


@dataclass
class SurrogatePrediction:
    """Model outputs at m candidates (each a length-m tensor)."""

    surrogate_output: Tensor
    surrogate_var: Tensor
    logcost: Tensor
    cost_estimate: Tensor
    pareto_surrogate: Tensor
    target_estimate: Tensor
    log_success_probability: Tensor


class SurrogateModel:
    """The four GPs of one suggestion, built in order: observations, pending suggestions,
    failures, Pareto set; then `predict` scores candidates."""

    def __init__(
        self,
        dims: int,
        better_direction_sign: int,
        radius: float,
        device: torch.device,
        fit: FitSettings,
        warm_fit: FitSettings,
        warm_start: WarmStartStore | None,
        generator: torch.Generator,
        encode: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.dims = dims
        self.sign = better_direction_sign
        self.radius = radius
        self.device = device
        self.fit_settings = fit
        self.warm_fit_settings = warm_fit
        self.warm_start = warm_start
        self.generator = generator
        # Basic coordinates -> model inputs (carbs_optimizer.discrete: one-hot choices);
        # `dims` counts the encoded columns.
        self.encode = encode or (lambda inputs: inputs)
        self.offset = torch.zeros(dims, dtype=DTYPE, device=device)
        self.output_warp: OutputWarp | None = None
        self.cost_warp: CostWarp | None = None
        self.main: _ExactGP | None = None
        self.success: _ExactGP | None = None
        self.pareto: _ExactGP | None = None
        self.pareto_logcost_range = (-1.0, 1.0)

    # -- fitting -------------------------------------------------------------------------
    def _train(self, role: str, model: _ExactGP) -> None:
        if self.warm_start is None:
            train_gp(model, self.fit_settings)
            return
        warm = _load_warm_start(model, self.warm_start.get(role))
        train_gp(model, self.warm_fit_settings if warm else self.fit_settings)
        self.warm_start[role] = _save_warm_start(model)

    def _x(self, inputs: Tensor) -> Tensor:
        return self.encode(inputs.to(device=self.device, dtype=DTYPE)) - self.offset

    def fit_observations(
        self, inputs: Tensor, outputs: Sequence[float], costs: Sequence[float],
        train_index: Tensor | None = None,
    ) -> None:
        """inputs: n x d basic coordinates of the successes. The warps see all n; the GP
        trains on `train_index` when the caller bounded the training set."""
        outputs_np = np.asarray(outputs, dtype=np.float64)
        costs_np = np.asarray(costs, dtype=np.float64)
        self.output_warp = OutputWarp(outputs_np, self.sign)
        self.cost_warp = CostWarp(costs_np)
        if train_index is not None:
            inputs, outputs_np, costs_np = (
                inputs[train_index], outputs_np[train_index.numpy()], costs_np[train_index.numpy()]
            )
        self.offset = self.encode(inputs.to(device=self.device, dtype=DTYPE)).mean(dim=0)
        x = self._x(inputs)
        y_out = torch.as_tensor(self.output_warp.to_surrogate(outputs_np), dtype=DTYPE)
        y_cost = self.cost_warp.to_logcost(torch.as_tensor(costs_np, dtype=DTYPE))
        y = torch.stack([y_out, y_cost]).to(self.device)
        batch = torch.Size([2])
        model = _ExactGP(
            x.expand(2, *x.shape), y, _likelihood(batch),
            _input_kernel(self.dims, self.radius, batch), batch,
        ).to(device=self.device, dtype=DTYPE)
        self._train("main", model)
        self.main = model

    def fit_suggestions(self, pending: Tensor, thompson: bool) -> None:
        """Condition the output GP on invented results at the p pending inputs.

        Hyperparameters stay those fitted on real observations (the reference refitted on
        the fantasies, paying a GP fit and letting invented data move them). The cost GP
        gets its own mean, which leaves its mean unchanged.
        """
        assert self.main is not None
        if pending.shape[0] == 0:
            return
        xp = self._x(pending)
        with torch.no_grad():
            posterior = self.main(xp.expand(2, *xp.shape))
            mean = posterior.mean
            fantasy_out = mean[0]
            if thompson:
                fantasy_out = fantasy_out + self._joint_draw(posterior.covariance_matrix[0])
        fantasies = torch.stack([fantasy_out, mean[1]])
        x_all = torch.cat([self.main.train_inputs[0], xp.expand(2, *xp.shape)], dim=-2)
        y_all = torch.cat([self.main.train_targets, fantasies], dim=-1)
        self.main.set_train_data(inputs=x_all, targets=y_all, strict=False)

    def _joint_draw(self, covariance: Tensor) -> Tensor:
        """One draw from N(0, covariance), p x p, with the engine's own generator."""
        eye = torch.eye(covariance.shape[0], dtype=DTYPE, device=covariance.device)
        jitter = 1e-9
        for _ in range(8):
            chol, info = torch.linalg.cholesky_ex(covariance + jitter * eye)
            if int(info) == 0:
                break
            jitter *= 10
        z = torch.randn(covariance.shape[0], generator=self.generator, dtype=DTYPE)
        return cast(Tensor, chol @ z.to(covariance.device))

    def fit_failures(self, success_inputs: Tensor, failure_inputs: Tensor) -> None:
        """P(success) from a GP regression on labels -1 (success) / +1 (failure)."""
        if success_inputs.shape[0] == 0 or failure_inputs.shape[0] == 0:
            self.success = None
            return
        x = self._x(torch.cat([success_inputs, failure_inputs]))
        labels = torch.cat([
            -torch.ones(success_inputs.shape[0], dtype=DTYPE),
            torch.ones(failure_inputs.shape[0], dtype=DTYPE),
        ]).to(self.device)
        model = _ExactGP(
            x, labels, _likelihood(torch.Size()),
            _input_kernel(self.dims, self.radius, torch.Size()), torch.Size(),
        ).to(device=self.device, dtype=DTYPE)
        self._train("success", model)
        self.success = model

    def fit_pareto_set(self, outputs: Sequence[float], costs: Sequence[float]) -> None:
        """A 1-D GP of surrogate output along the frontier against scaled log cost."""
        assert self.output_warp is not None
        assert self.cost_warp is not None
        x = self.cost_warp.to_logcost(torch.as_tensor(costs, dtype=DTYPE)).to(self.device)
        y = torch.as_tensor(
            self.output_warp.to_surrogate(np.asarray(outputs, dtype=np.float64)), dtype=DTYPE
        ).to(self.device)
        self.pareto_logcost_range = (float(x.min()), float(x.max()))
        model = _ExactGP(
            x.unsqueeze(-1), y, _likelihood(torch.Size()), _curve_kernel(), torch.Size()
        ).to(device=self.device, dtype=DTYPE)
        self._train("pareto", model)
        self.pareto = model

    # -- prediction ----------------------------------------------------------------------
    def _pareto_at_logcost(self, logcost: Tensor) -> Tensor:
        assert self.pareto is not None
        low, high = self.pareto_logcost_range
        clamped = torch.clamp(logcost, min=low, max=high).unsqueeze(-1)
        return cast(Tensor, self.pareto(clamped).mean)

    def pareto_surrogate_for_cost(self, cost: float) -> float:
        assert self.cost_warp is not None
        with torch.no_grad():
            logcost = self.cost_warp.to_logcost(torch.tensor([cost], dtype=DTYPE)).to(self.device)
            return float(self._pareto_at_logcost(logcost)[0])

    def target_to_surrogate(self, output: float) -> float:
        assert self.output_warp is not None
        return float(self.output_warp.to_surrogate(np.array([output], dtype=np.float64))[0])

    @torch.no_grad()
    def predict(self, candidates: Tensor) -> SurrogatePrediction:
        """candidates: m x d basic coordinates."""
        assert self.main is not None
        assert self.output_warp is not None
        assert self.cost_warp is not None
        x = self._x(candidates)
        posterior = self.main(x.expand(2, *x.shape))
        mean, var = posterior.mean, posterior.variance
        surrogate_output, surrogate_var, logcost = mean[0], var[0], mean[1]
        if self.success is not None:
            success = self.success(x)
            log_p_success = log_success_probability(success.mean, success.variance)
        else:
            log_p_success = torch.zeros_like(surrogate_output)
        target = self.output_warp.to_target(surrogate_output.detach().cpu().numpy())
        return SurrogatePrediction(
            surrogate_output=surrogate_output,
            surrogate_var=surrogate_var,
            logcost=logcost,
            cost_estimate=self.cost_warp.to_cost(logcost),
            pareto_surrogate=self._pareto_at_logcost(logcost),
            target_estimate=torch.as_tensor(target, dtype=DTYPE, device=self.device),
            log_success_probability=log_p_success,
        )
