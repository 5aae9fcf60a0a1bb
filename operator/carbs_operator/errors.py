"""The project's exceptions: one base, and what kind of trouble each one is.

Every exception class carbs_operator defines derives from `CarbsOperatorError`, through one
of the two kinds below where it is one of them (tests/operator/test_errors.py holds the
rule). A class also keeps the builtin base its callers have always caught (`ValueError`,
`RuntimeError`, `LookupError`), so catching either keeps working:

```
CarbsOperatorError
├── InvalidInputError         what a user wrote or asked for cannot be used (fix the input)
│   ├── validation.ManifestError       (ValueError)  a manifest, with every problem
│   ├── template.TemplateError         (ValueError)  a trial's template and parameters
│   ├── workloads.WorkloadError        (ValueError)  a workload kind this project cannot run
│   ├── results.ResultError            (ValueError)  a trial's result payload
│   ├── tuning.shipping.ShippingError  (ValueError)  a function tune() cannot ship
│   ├── tuning.api.TuneError           (RuntimeError) tune() / load_study() called wrongly
│   └── ui.source.StudyNotFoundError   (LookupError) no study under that key
├── InfrastructureError       the world around a study (cluster, config, state, processes)
│   ├── kube_client.KubeConfigError    (RuntimeError) no kubeconfig and no service account
│   ├── k8s.peering.PeeringError                      mandatory peering that cannot work
│   ├── tuning.cluster.ClusterTuneError (RuntimeError) the cluster study failed or was Invalid
│   ├── tuning.trial.TrialLoadError    (RuntimeError) the shipped function does not load
│   ├── local.store.StoreError                        a state file that cannot serve the study
│   └── predict_command.SourceError                   a study or its trials cannot be read
├── crd.SchemaError           (ValueError)  a model with no structural OpenAPI equivalent (a bug)
└── scaleup.predict.PredictionRefusedError (ValueError) the trials cannot support a scale-up
```

This module imports nothing, so any module (the SDK's included) may import it.
The engine (`carbs_optimizer`) imports nothing of ours; its exceptions derive from its own
base, `carbs_optimizer.CarbsError`.
"""

from __future__ import annotations

__all__ = ["CarbsOperatorError", "InfrastructureError", "InvalidInputError"]


class CarbsOperatorError(Exception):
    """The base of every exception carbs_operator raises on purpose."""


class InvalidInputError(CarbsOperatorError):
    """What a user wrote or asked for cannot be used; the message says what to change."""


class InfrastructureError(CarbsOperatorError):
    """The world around a study (a cluster, its configuration, a state file, a trial's
    process) does not let it go on; the message says what is missing or broken."""
