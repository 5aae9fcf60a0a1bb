"""The functions the tracking tests tune: in a module of their own, so that each trial
imports only this (shipped by module and name), not a test module with pytest."""

from __future__ import annotations

from typing import Any


def train_mlflow(params: dict[str, Any]) -> dict[str, float]:
    """Logs a run of its own (the first trial only, to keep trials fast), as users do."""
    import math
    import os

    from carbs_operator import report_progress

    loss = (math.log10(params["lr"]) + 2) ** 2 + 1 / params["width"]
    for step in range(3):
        report_progress(step, loss=loss + (3 - step) * 0.1, flops=params["width"] * (step + 1))
    if os.environ["CARBS_TRIAL"].endswith("-0"):
        import mlflow

        with mlflow.start_run(parent_run_id=os.environ["MLFLOW_PARENT_RUN_ID"],
                              run_name=os.environ["CARBS_TRIAL"],
                              tags={"carbs.trial": os.environ["CARBS_TRIAL"]}):
            mlflow.log_metric("user_metric", 1.5)
    return {"loss": loss, "flops": params["width"] * 3.0}


def quick(params: dict[str, Any]) -> dict[str, float]:
    return {"loss": params["lr"], "flops": float(params["width"])}


def train_wandb(params: dict[str, Any]) -> dict[str, float]:
    import os

    from carbs_operator import report_progress

    assert os.environ["WANDB_RUN_GROUP"] == "wb"  # what the user's own wandb.init() reads
    assert os.environ["WANDB_NAME"] == os.environ["CARBS_TRIAL"]
    loss = params["lr"] + 1 / params["width"]
    for step in range(3):
        report_progress(step, loss=loss + (3 - step) * 0.1, flops=params["width"] * (step + 1))
    return {"loss": loss, "flops": params["width"] * 3.0}
