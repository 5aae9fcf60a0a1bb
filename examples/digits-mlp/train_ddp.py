"""The digits MLP of train.py, data-parallel over N processes (torch.distributed, gloo, CPU).

Each rank trains the same model (same seed, so the same initial weights) on its shard of the
training images (every N-th image); DistributedDataParallel averages the gradients, so one
epoch is still one full-batch AdamW step over all 1,437 images, and the FLOPs are those of
train.py. Rank 0 scores the model on the fixed validation split and reports.

Where it runs distributed: in a pod of an Indexed Job (a JobSet's replicated job), whose
controller sets JOB_COMPLETION_INDEX (the rank); WORLD_SIZE, MASTER_ADDR and MASTER_PORT
come from the manifest (study-jobset.yaml). Without JOB_COMPLETION_INDEX, as under
`carbs run`, it is a world of one: the same training in one process.

It prints `val_loss=... flops=...` (a StdOut collector reads that) and calls
carbs_operator.report() on rank 0 (the default Report collector). Same flags as train.py.
"""

from __future__ import annotations

import math
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from train import (
    TrainingDivergedError,
    _build_model,
    _digits_split,
    _parse_args,
    n_parameters,
    training_flops,
)


def world() -> tuple[int, int]:
    """(rank, world size): from the Indexed Job's completion index, else a world of one."""
    index = os.environ.get("JOB_COMPLETION_INDEX")
    if index is None:
        return 0, 1
    return int(index), int(os.environ.get("WORLD_SIZE", "1"))


def train_ddp(lr: float, width: int, epochs: int, weight_decay: float, seed: int,
              activation: str, rank: int, world_size: int) -> dict[str, float] | None:
    """Train on this rank's shard; rank 0 returns the metrics, the other ranks None."""
    torch.set_num_threads(1)
    x_train, y_train, x_val, y_val = _digits_split()
    shard_x, shard_y = x_train[rank::world_size], y_train[rank::world_size]
    model: nn.Module = _build_model(width, torch.Generator().manual_seed(seed), activation)
    if world_size > 1:
        model = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    train_loss = float("nan")
    for epoch in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(shard_x), shard_y)
        train_loss = float(loss.detach())
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(epoch, training_flops(width, epoch))
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
    if rank != 0:
        return None
    model.eval()
    with torch.no_grad():
        logits = model(x_val)
        val_loss = float(loss_fn(logits, y_val))
        val_accuracy = float((logits.argmax(dim=1) == y_val).float().mean())
    if not math.isfinite(val_loss):
        raise TrainingDivergedError(epochs, training_flops(width, epochs))
    return {"val_loss": val_loss, "val_accuracy": val_accuracy, "train_loss": train_loss,
            "flops": training_flops(width, epochs), "n_params": float(n_parameters(width)),
            "train_seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    rank, world_size = world()
    if world_size > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        result = train_ddp(args.lr, args.width, args.epochs, args.weight_decay, args.seed,
                           args.activation, rank, world_size)
        if world_size > 1:
            # Rank 0 evaluates while the others wait: a rank that tore the group down first
            # could abort its peer's gloo transport (seen once as SIGABRT on a busy machine).
            dist.barrier()
    finally:
        if world_size > 1:
            dist.destroy_process_group()
    if result is None:
        return
    print(f"world_size={world_size} val_loss={result['val_loss']!r} "
          f"val_accuracy={result['val_accuracy']!r} flops={result['flops']!r}")
    from carbs_operator import report

    report(val_loss=result["val_loss"], val_accuracy=result["val_accuracy"],
           flops=result["flops"], train_seconds=result["train_seconds"])


if __name__ == "__main__":
    main()
