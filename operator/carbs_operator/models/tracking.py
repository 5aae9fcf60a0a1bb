"""spec.tracking: send the study to the experiment trackers a team already uses (opt-in).

The manifest side only (fields and their documentation). carbs_operator.tracking does the
logging, in both runtimes, off the study's path: a tracker that is down never fails or
slows a trial or the study. Absent = nothing is sent anywhere.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from carbs_operator.models.base import Model


class WandbMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class MlflowTracking(Model):
    """An MLflow tracking server: a parent run per study, a child run per trial."""

    tracking_uri: str = Field(
        min_length=1, max_length=2048,
        description="The tracking server, e.g. http://mlflow.mlflow.svc:5000. Trials get it "
        "as MLFLOW_TRACKING_URI, with MLFLOW_PARENT_RUN_ID, so runs they log nest under the "
        "study's parent run.",
    )
    experiment: str | None = Field(
        None, min_length=1, max_length=500,
        description="Experiment name. Default: the study's name.",
    )


class WandbTracking(Model):
    """Weights & Biases: a group per study, a run per trial and a study run beside them."""

    project: str = Field(min_length=1, max_length=128, description="W&B project.")
    entity: str | None = Field(
        None, min_length=1, max_length=128, description="W&B entity (team or user)."
    )
    mode: WandbMode = Field(
        WandbMode.ONLINE,
        description="online (default) or offline (runs are written to files for a later "
        "`wandb sync`). The API key comes from the environment (WANDB_API_KEY), never "
        "from the manifest.",
    )


class Tracking(Model):
    """Experiment trackers the study logs to; each is optional."""

    mlflow: MlflowTracking | None = Field(None, description="Log to MLflow.")
    wandb: WandbTracking | None = Field(None, description="Log to Weights & Biases.")
