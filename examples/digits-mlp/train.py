"""Train a small MLP on scikit-learn's digits data set: the project's shipped example trial.

It is deliberately small and real: 1,797 8×8 images of handwritten digits that ship inside
scikit-learn (no download), a one-hidden-layer MLP in torch, full-batch AdamW. One run at
width 512 for 100 epochs takes a fraction of a second on one CPU thread, so a whole CARBS
study runs on a laptop, and the benchmarks in ``benchmarks/`` can call :func:`train` hundreds
of times.

Why these choices:

- **Fixed held-out split.** The validation split does not depend on ``seed`` (it is drawn
  once with a fixed ``random_state``), so two trials with different seeds are scored on the
  same images and their losses are comparable. ``seed`` only moves the weight
  initialisation.
- **Full batch.** With 1,437 training images a full batch is cheap, and it makes one epoch
  exactly one optimiser step; the FLOP count below is then exact up to the elementwise
  terms.
- **Cost = analytic training FLOPs.** ``flops = 6 × n_params × samples_seen`` (2 for the
  forward multiply-adds, 4 for the backward pass), with ``samples_seen = epochs ×
  n_train``. It is deterministic (wall-clock time on a shared machine is not), and it grows
  with both ``width`` and ``epochs``: the two knobs that buy a lower loss with more compute,
  which is what a cost-aware tuner has to discover.
- **Divergence raises.** If the training loss becomes NaN or infinite, :func:`train` raises
  :class:`TrainingDivergedError` (carrying the FLOPs spent so far) instead of returning a
  made-up large loss: a diverged run is a failed trial, and CARBS models failures separately (its
  success model), which a fake loss would pollute. ``main()`` lets the exception end the
  process with a non-zero status, so the runner marks the trial failed. A finite but bad
  loss (say lr = 1) is a legitimate observation and is returned as is.

- **Progress per epoch, for early stopping.** ``main()`` reports the validation loss and
  the FLOPs spent so far at most ``PROGRESS_POINTS`` times per run
  (``carbs_operator.report_progress``), so a study with ``spec.earlyStopping`` can stop a
  run that is plainly worse than its peers at the same cost. Scoring the validation split
  mid-run changes nothing in training (no dropout, no batch norm, no RNG draws), so the
  final result is the same with or without it.

- **Activation is a choice.** ``activation`` (relu, tanh, gelu) is the study's categorical
  parameter: unordered names, passed to the script as the exact strings of the manifest.
  An elementwise activation adds no FLOPs to the count above.

Command line (the flags are fixed: study manifests refer to them)::

    python train.py --lr 3e-3 --width 64 --epochs 30 --weight-decay 1e-4 --activation relu
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable

import torch
from torch import nn

#: Fraction of the 1,797 images held out for validation, and the split's fixed seed.
VALIDATION_FRACTION = 0.2
SPLIT_RANDOM_STATE = 0
N_FEATURES = 64
N_CLASSES = 10
#: Progress points a run reports at most (evenly spaced epochs, the last one included).
PROGRESS_POINTS = 20
#: The hidden layer's activation, by the name a study's categorical parameter passes.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; the run is a failed trial.

    Attributes:
        flops: training FLOPs spent before the divergence was seen (the compute is spent
            even though the trial failed, so budget accounting can charge it).
        epoch: the epoch (0-based) at which the loss was first non-finite.
    """

    def __init__(self, epoch: int, flops: float) -> None:
        super().__init__(f"training loss became non-finite at epoch {epoch}")
        self.epoch = epoch
        self.flops = flops


@functools.cache
def _digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load digits once per process: standardised features, stratified fixed split.

    Cached because the benchmarks call :func:`train` many times in one process; the
    returned tensors are never modified in place.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x,
        y,
        test_size=VALIDATION_FRACTION,
        random_state=SPLIT_RANDOM_STATE,
        stratify=y,
    )
    # Standardise with the training split's statistics only (no validation leakage).
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    # Some border pixels are always 0 in the training split but not in the validation split:
    # dividing by a tiny std there would blow those validation features up. Leave them as is.
    std[std < 1e-3] = 1.0
    x_train = (x_train - mean) / std
    x_val = (x_val - mean) / std
    return (
        torch.as_tensor(x_train, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.long),
        torch.as_tensor(x_val, dtype=torch.float32),
        torch.as_tensor(y_val, dtype=torch.long),
    )


def n_train_samples() -> int:
    """Number of training images (1,437): lets callers compute FLOPs without training."""
    return int(_digits_split()[0].shape[0])


def n_parameters(width: int) -> int:
    """Trainable parameters of the MLP 64 → width → 10 (weights and biases)."""
    return N_FEATURES * width + width + width * N_CLASSES + N_CLASSES


def training_flops(width: int, epochs: int) -> float:
    """Analytic training FLOPs: 6 × parameters × samples seen (forward 2, backward 4)."""
    return 6.0 * n_parameters(width) * n_train_samples() * epochs


def _build_model(width: int, generator: torch.Generator, activation: str = "relu") -> nn.Module:
    """One hidden layer with the chosen activation, initialised from ``generator`` (never
    the global RNG)."""
    model = nn.Sequential(
        nn.Linear(N_FEATURES, width),
        ACTIVATIONS[activation](),
        nn.Linear(width, N_CLASSES),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                # PyTorch's default Linear init (Kaiming-uniform with a = √5 and a matching
                # bias range) reduces to U(−1/√fan_in, 1/√fan_in); drawn from our generator.
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return model


def train(
    lr: float,
    width: int,
    epochs: int,
    weight_decay: float,
    seed: int = 0,
    activation: str = "relu",
    on_progress: Callable[[int, float, float], None] | None = None,
) -> dict[str, float]:
    """Train the MLP full-batch with AdamW and score it on the fixed validation split.

    Args:
        lr: AdamW learning rate (> 0).
        width: hidden units (≥ 1).
        epochs: full-batch steps (≥ 1).
        weight_decay: AdamW decoupled weight decay (≥ 0).
        seed: weight-initialisation seed; the data split does not depend on it.
        activation: the hidden layer's activation, one of ``ACTIVATIONS``.
        on_progress: called as ``on_progress(epoch, val_loss, flops_so_far)`` after at most
            ``PROGRESS_POINTS`` evenly spaced epochs (0-based ``epoch``); None skips the
            mid-run scoring.

    Returns:
        ``val_loss`` (mean cross-entropy on the validation split, nats), ``val_accuracy``
        (fraction correct), ``train_loss`` (last full-batch training loss), ``flops``
        (analytic training FLOPs, see :func:`training_flops`), ``n_params``, and
        ``train_seconds`` (wall time of the training loop and evaluation).

    Raises:
        ValueError: an argument is out of range.
        TrainingDivergedError: the training loss became non-finite.
    """
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if width < 1 or epochs < 1:
        raise ValueError(f"width and epochs must be ≥ 1, got width={width}, epochs={epochs}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    width, epochs = int(width), int(epochs)

    # One thread: trials run side by side on shared machines, and at this size more threads
    # mostly add synchronisation overhead. Restored afterwards so an importing process (the
    # benchmarks) keeps its own setting.
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(lr, width, epochs, weight_decay, seed, activation, on_progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    lr: float, width: int, epochs: int, weight_decay: float, seed: int, activation: str,
    on_progress: Callable[[int, float, float], None] | None = None,
) -> dict[str, float]:
    """The body of :func:`train`, run with one torch thread."""
    x_train, y_train, x_val, y_val = _digits_split()
    generator = torch.Generator().manual_seed(seed)
    model = _build_model(width, generator, activation)
    # The first optimizer built in a process imports torch._dynamo (about 1 s here): a
    # start-up cost like `import torch`, so it is left out of train_seconds with the imports.
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    start = time.perf_counter()
    loss_fn = nn.CrossEntropyLoss()
    flops_per_epoch = training_flops(width, 1)
    train_loss = float("nan")
    report_after = {math.ceil(epochs * i / PROGRESS_POINTS) - 1
                    for i in range(1, PROGRESS_POINTS + 1)} if on_progress else set()
    for epoch in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_train), y_train)
        train_loss = float(loss.detach())
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(epoch, flops_per_epoch * epoch)
        loss.backward()
        optimizer.step()
        if on_progress is not None and epoch in report_after:
            with torch.no_grad():
                val = float(loss_fn(model(x_val), y_val))
            if math.isfinite(val):
                on_progress(epoch, val, flops_per_epoch * (epoch + 1))
    model.eval()
    with torch.no_grad():
        logits = model(x_val)
        val_loss = float(loss_fn(logits, y_val))
        val_accuracy = float((logits.argmax(dim=1) == y_val).float().mean())
    if not math.isfinite(val_loss):
        # Training finished on finite losses but the final step overflowed the weights.
        raise TrainingDivergedError(epochs, flops_per_epoch * epochs)
    return {
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
        "train_loss": train_loss,
        "flops": flops_per_epoch * epochs,
        "n_params": float(n_parameters(width)),
        "train_seconds": time.perf_counter() - start,
    }


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The fixed flags a study's trial template passes (``--lr=${params.lr}`` etc.)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate")
    # Integers may arrive as "64.0" from a float-valued search space: accept and round.
    parser.add_argument("--width", type=lambda s: round(float(s)), default=64)
    parser.add_argument("--epochs", type=lambda s: round(float(s)), default=30)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=lambda s: round(float(s)), default=0)
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Train with the command-line hyperparameters, reporting progress per epoch and the
    result to carbs-operator.

    The SDK is imported here, not at module top, so :func:`train` stays importable
    without the operator package (the benchmarks only need torch and scikit-learn).
    """
    from carbs_operator import report, report_progress

    args = _parse_args(argv)
    result = train(
        lr=args.lr,
        width=args.width,
        epochs=args.epochs,
        weight_decay=args.weight_decay,
        seed=args.seed,
        activation=args.activation,
        on_progress=lambda epoch, val_loss, flops: report_progress(
            epoch, val_loss=val_loss, flops=flops),
    )
    print(
        f"val_loss={result['val_loss']:.4f} val_accuracy={result['val_accuracy']:.4f} "
        f"flops={result['flops']:.3e} train_seconds={result['train_seconds']:.3f}"
    )
    report(
        val_loss=result["val_loss"],
        val_accuracy=result["val_accuracy"],
        flops=result["flops"],
        train_seconds=result["train_seconds"],
    )


if __name__ == "__main__":
    main()
