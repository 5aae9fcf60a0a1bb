"""Good and bad manifests, shared by the agreement, validation and CLI tests.

Each bad case is a list of edits to a good base manifest plus the field path that
`validate_manifest` must name. BAD_FOR_BOTH must be refused by the pydantic models and by
the generated CRD alike. ONLY_PYDANTIC lists the checks a CRD schema cannot express (a
placeholder naming an undeclared parameter needs regex extraction CEL lacks here, and
comparing untyped ordinal values would have no bounded CEL cost); the operator reports
those by setting the study's phase to Invalid.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.builders import study_manifest

DELETE = object()
CONTAINER = "spec.trialTemplate.spec.template.spec.containers[0]"


def base_study() -> dict[str, Any]:
    """A valid study touching most fields (the builders' `study_manifest()`)."""
    return study_manifest()


TT = "spec.trialTemplate"
JOBSET: dict[str, Any] = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
    "spec": {"replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": {
        "parallelism": 2, "completions": 2, "completionMode": "Indexed",
        "template": {"spec": {"restartPolicy": "Never", "containers": [{
            "name": "trainer", "image": "registry.example/ddp:1", "command": ["torchrun"],
            "args": ["train.py", "--lr=${params.lr}", "--width=${params.width}"]}]}}}}}]},
}
PYTORCHJOB: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
    "spec": {"pytorchReplicaSpecs": {
        "Master": {"replicas": 1, "template": {"spec": {"containers": [{
            "name": "pytorch", "image": "x", "args": ["--lr=${params.lr}"]}]}}},
        "Worker": {"replicas": 3, "template": {"spec": {"containers": [{
            "name": "pytorch", "image": "x", "args": ["--lr=${params.lr}"]}]}}}}},
}
TRAINJOB: dict[str, Any] = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
    "spec": {"runtimeRef": {"name": "torch-distributed"},
             "trainer": {"image": "x", "numNodes": 2, "command": ["python", "train.py"],
                         "args": ["--lr=${params.lr}"]}},
}


def trial() -> dict[str, Any]:
    """A valid CarbsTrial."""
    return {
        "apiVersion": "carbs.dev/v1alpha1",
        "kind": "CarbsTrial",
        "metadata": {"name": "digits-3"},
        "spec": {"study": "digits", "index": 3, "params": {"lr": 0.003, "width": 64},
                 "suggestion": {"suggestionId": "abc", "kind": "bayesian"}},
        "status": {"phase": "Succeeded", "metrics": {"val_loss": 0.3, "flops": 1e9},
                   "objective": 0.3, "cost": 1e9, "jobName": "digits-3"},
    }


def apply(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) the field at a dotted path such as `spec.parameters[0].min`."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    node: Any = obj
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


@dataclass(frozen=True)
class Case:
    id: str
    edits: dict[str, Any]
    path: str = ""  # the field path validate_manifest must name (bad cases)
    build: Callable[[], dict[str, Any]] = base_study
    then: Callable[[dict[str, Any]], None] | None = field(default=None)  # a last edit

    def manifest(self) -> dict[str, Any]:
        obj = copy.deepcopy(self.build())
        for path, value in self.edits.items():
            apply(obj, path, value)
        if self.then:
            self.then(obj)
        return obj


P0 = "spec.parameters[0]"
MC = "spec.metricsCollector"
P1 = "spec.parameters[1]"
P2 = "spec.parameters[2]"
P3 = "spec.parameters[3]"


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"][
        "containers"]
    return containers


def _many_parameters(obj: dict[str, Any]) -> None:
    obj["spec"]["parameters"] = [
        {"name": f"p{i}", "space": "linear", "min": 0, "max": 1} for i in range(65)
    ]


def _status(obj: dict[str, Any]) -> None:
    obj["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Valid", "status": "True", "reason": "Accepted",
                        "lastTransitionTime": "2025-01-02T03:04:05Z"}],
        "observedGeneration": 2,
        "trials": {"total": 3, "running": 2, "succeeded": 1},
        "progress": "1/40",
        "totalCost": 2.5e9,
        "bestTrial": {"name": "digits-0", "index": 0, "params": {"lr": 0.003},
                      "objective": 0.4, "cost": 2.5e9},
        "paretoFrontier": [{"trial": "digits-0", "params": {"lr": 0.003},
                            "objective": 0.4, "cost": 2.5e9}],
        "scalingLaws": [{"parameter": "lr", "space": "log", "slope": -0.3,
                         "intercept": 1.0, "r2": 0.9, "points": 5}],
    }


# One of each parameter kind the manifest takes beyond bounded numbers.
KINDS: list[dict[str, Any]] = [
    {"name": "optimizer", "space": "categorical", "choices": ["adam", "sgd", "lion"],
     "searchCenter": "sgd"},
    {"name": "activation", "space": "categorical", "choices": ["relu", "gelu"]},
    {"name": "batch", "space": "ordinal", "values": [32, 64, 128, 256], "searchCenter": 64},
    {"name": "size", "space": "ordinal", "values": ["small", "base", "large"]},
    {"name": "ratio", "space": "ordinal", "values": [0.5, 1, 2.5], "searchCenter": 1.0},
    {"name": "drop_rate", "space": "linear", "min": 0.0, "max": 0.5, "step": 0.05},
    {"name": "step_lr", "space": "log", "min": 1e-4, "max": 1e-1, "step": 1e-4},
    {"name": "shift", "space": "linear", "searchCenter": 3.5},
    {"name": "warmup", "space": "linear", "min": 0, "searchCenter": 100, "integer": True},
    {"name": "decay", "space": "log", "max": 1e-2, "searchCenter": 1e-4},
    {"name": "keep", "space": "logit"},
    {"name": "mix", "space": "logit", "min": 0.1, "searchCenter": 0.5},
]
CAT = {"name": "momentum", "space": "categorical", "choices": ["adam", "sgd"]}
ORD = {"name": "momentum", "space": "ordinal", "values": [1, 2, 4]}

GOOD = [
    Case("base", {}),
    Case("minimal", {"spec.cost": {"source": "runtimeSeconds"}, "spec.parallelism": DELETE,
                     "spec.parameters": [{"name": "x", "space": "linear", "min": 0, "max": 1}],
                     f"{CONTAINER}.args": DELETE, f"{CONTAINER}.env": DELETE}),
    Case("all-options", {
        "spec.cost": {"source": "gpuSeconds"},
        "spec.budget": {"maxTrials": 5, "maxFailedTrials": 0, "maxTotalCost": 1e15, "goal": 0.05},
        "spec.maxSuggestionCost": 1e13, "spec.suspend": True,
        "spec.carbs": {"seed": 7, "resampleFrequency": 0, "initialSearchRadius": 0.5,
                       "numRandomSamples": 8, "explorationBias": 0.5,
                       "minParetoCostFraction": 0.0, "outstandingSuggestionEstimator": "MEAN",
                       "maxGpTrainingPoints": 200},
        "spec.completionPolicy": {"runningTrials": "keep"},
        "spec.trialTemplate.spec.activeDeadlineSeconds": 3600,
    }),
    Case("unmodelled-template-fields", {
        "spec.trialTemplate.metadata": {"labels": {"team": "ml"}},
        "spec.trialTemplate.spec.ttlSecondsAfterFinished": 600,
        "spec.trialTemplate.spec.template.spec.nodeSelector": {"gpu": "a100"},
        "spec.trialTemplate.spec.template.spec.tolerations": [{"key": "gpu", "operator": "Exists"}],
        f"{CONTAINER}.resources": {"limits": {"nvidia.com/gpu": 1, "memory": "2Gi"}},
        f"{CONTAINER}.volumeMounts": [{"name": "data", "mountPath": "/data"}],
        f"{CONTAINER}.env": [{"name": "TOKEN",
                              "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }, then=lambda o: _containers(o).append({"name": "sidecar", "image": "busybox"})),
    Case("args-only", {f"{CONTAINER}.command": DELETE}),
    Case("edges", {f"{P0}.searchCenter": 1e-5, f"{P1}.searchCenter": 1024,
                   f"{P2}.integer": False, "spec.parameters[3].min": -1e300,
                   "spec.budget.maxTotalCost": 0.5, "spec.maxSuggestionCost": 0.5,
                   "spec.carbs": {"maxGpTrainingPoints": 1, "initialSearchRadius": 1e-3},
                   "spec.trialTemplate.spec.activeDeadlineSeconds": 1}),
    Case("nulls-mean-unset", {"spec.budget.goal": None, "spec.maxSuggestionCost": None}),
    Case("with-status", {}, then=_status),
    Case("no-max-failed-trials", {"spec.budget.maxFailedTrials": DELETE}),
    *[Case(f"kind-{i}", {f"{P3}": parameter}) for i, parameter in enumerate(KINDS)],
    Case("every-kind", {}, then=lambda o: o["spec"]["parameters"].extend(copy.deepcopy(KINDS))),
    Case("jobset", {TT: copy.deepcopy(JOBSET)}),
    Case("pytorchjob", {TT: copy.deepcopy(PYTORCHJOB)}),
    Case("trainjob", {TT: copy.deepcopy(TRAINJOB)}),
    Case("job-by-name", {f"{TT}.apiVersion": "batch/v1", f"{TT}.kind": "Job"}),
    Case("jobset-with-everything", {TT: {
        **copy.deepcopy(JOBSET),
        "successCondition": "has(self.status) && has(self.status.conditions) && "
                            "self.status.conditions.exists(c, c.type == 'Completed')",
        "failureCondition": "has(self.status) && has(self.status.failed)",
        "primaryPodLabels": {"jobset.sigs.k8s.io/job-index": "0"},
        "primaryContainerName": "trainer"}}),
    Case("job-own-conditions", {f"{TT}.successCondition": "has(self.status.succeeded)"}),
    Case("collector-report", {MC: {"kind": "Report"}}),
    Case("collector-stdout-default", {MC: {"kind": "StdOut"}}),
    Case("collector-stdout-json", {MC: {"kind": "StdOut", "format": "JSON",
                                        "metricStrategies": [{"name": "val_loss",
                                                              "value": "min"}]}}),
    Case("collector-stdout-text", {MC: {
        "kind": "StdOut", "format": "Text",
        "metricsFormat": [r"(\w+):\s*([-+]?\d*\.?\d+)", r"(?P<name>acc) (?P<value>\S+)"],
        "metricStrategies": [{"name": "val_loss", "value": "min"},
                             {"name": "acc", "value": "max"}]}}),
    Case("early-stopping-defaults", {"spec.earlyStopping": {}}),
    Case("early-stopping-median", {"spec.earlyStopping": {
        "rule": "Median", "minTrials": 3, "graceFraction": 0.0, "margin": 0}}),
]

ES = "spec.earlyStopping"
BAD_FOR_BOTH = [
    Case("early-stopping-rule", {ES: {"rule": "Hyperband"}}, f"{ES}.rule"),
    Case("early-stopping-min-trials", {ES: {"minTrials": 0}}, f"{ES}.minTrials"),
    Case("early-stopping-grace", {ES: {"graceFraction": 1.5}}, f"{ES}.graceFraction"),
    Case("early-stopping-typo", {ES: {"minTrial": 3}}, f"{ES}.minTrial"),
    Case("min-not-below-max", {f"{P0}.min": 2.0}, f"{P0}.min"),
    Case("min-equals-max", {f"{P3}.min": 1}, f"{P3}.min"),
    Case("center-above-max", {f"{P0}.searchCenter": 2.0}, f"{P0}.searchCenter"),
    Case("center-below-min", {f"{P3}.searchCenter": -2}, f"{P3}.searchCenter"),
    Case("log-min-zero", {f"{P0}.min": 0}, f"{P0}.min"),
    Case("log-min-negative", {f"{P0}.min": -1, f"{P0}.searchCenter": DELETE}, f"{P0}.min"),
    Case("logit-max-one", {f"{P2}.max": 1.0}, f"{P2}.max"),
    Case("logit-min-zero", {f"{P2}.min": 0.0}, f"{P2}.min"),
    Case("logit-integer", {f"{P2}.integer": True}, f"{P2}.integer"),
    Case("rounding-without-integer", {f"{P0}.roundingFactor": 4}, f"{P0}.roundingFactor"),
    Case("rounding-zero", {f"{P1}.roundingFactor": 0}, f"{P1}.roundingFactor"),
    Case("scale-zero", {f"{P0}.scale": 0}, f"{P0}.scale"),
    Case("scale-negative", {f"{P0}.scale": -1.0}, f"{P0}.scale"),
    Case("cost-both", {"spec.cost.source": "runtimeSeconds"}, "spec.cost"),
    Case("cost-neither", {"spec.cost": {}}, "spec.cost"),
    Case("cost-bad-source", {"spec.cost": {"source": "wallclock"}}, "spec.cost.source"),
    Case("duplicate-names", {f"{P1}.name": "lr"}, f"{P1}.name"),
    Case("no-parameters", {"spec.parameters": []}, "spec.parameters"),
    Case("too-many-parameters", {}, "spec.parameters", then=_many_parameters),
    Case("bad-name", {f"{P0}.name": "Learning-Rate"}, f"{P0}.name"),
    Case("bad-space", {f"{P0}.space": "exp"}, f"{P0}.space"),
    Case("bad-direction", {"spec.objective.direction": "min"}, "spec.objective.direction"),
    Case("empty-metric", {"spec.objective.metric": ""}, "spec.objective.metric"),
    Case("missing-objective", {"spec.objective": DELETE}, "spec.objective"),
    Case("missing-budget", {"spec.budget": DELETE}, "spec.budget"),
    Case("max-trials-zero", {"spec.budget.maxTrials": 0}, "spec.budget.maxTrials"),
    Case("max-trials-fraction", {"spec.budget.maxTrials": 2.5}, "spec.budget.maxTrials"),
    Case("max-total-cost-zero", {"spec.budget.maxTotalCost": 0}, "spec.budget.maxTotalCost"),
    Case("parallelism-zero", {"spec.parallelism": 0}, "spec.parallelism"),
    Case("suggestion-cost-negative", {"spec.maxSuggestionCost": -1}, "spec.maxSuggestionCost"),
    Case("nan", {f"{P0}.min": float("nan")}, f"{P0}.min"),
    Case("infinity", {f"{P3}.max": float("inf")}, f"{P3}.max"),
    Case("string-number", {f"{P0}.max": "0.1"}, f"{P0}.max"),
    Case("boolean-number", {f"{P0}.max": True}, f"{P0}.max"),
    Case("string-boolean", {"spec.suspend": "yes"}, "spec.suspend"),
    Case("integer-as-string", {f"{P1}.integer": "true"}, f"{P1}.integer"),
    Case("typo-field", {f"{P0}.searchCentre": 0.1}, f"{P0}.searchCentre"),
    Case("typo-spec-field", {"spec.paralellism": 3}, "spec.paralellism"),
    Case("pareto-fraction-one", {"spec.carbs": {"minParetoCostFraction": 1.0}},
         "spec.carbs.minParetoCostFraction"),
    Case("random-samples-zero", {"spec.carbs": {"numRandomSamples": 0}},
         "spec.carbs.numRandomSamples"),
    Case("bad-estimator", {"spec.carbs": {"outstandingSuggestionEstimator": "MEDIAN"}},
         "spec.carbs.outstandingSuggestionEstimator"),
    Case("bad-completion", {"spec.completionPolicy": {"runningTrials": "abandon"}},
         "spec.completionPolicy.runningTrials"),
    Case("no-command-or-args", {f"{CONTAINER}.command": DELETE, f"{CONTAINER}.args": DELETE},
         CONTAINER),
    Case("empty-command-no-args", {f"{CONTAINER}.command": [], f"{CONTAINER}.args": DELETE},
         CONTAINER),
    Case("no-containers", {"spec.trialTemplate.spec.template.spec.containers": []},
         "spec.trialTemplate.spec.template.spec.containers"),
    Case("numeric-arg", {f"{CONTAINER}.args": ["--lr", 0.1]}, f"{CONTAINER}.args[1]"),
    Case("numeric-env-value", {f"{CONTAINER}.env": [{"name": "A", "value": 3}]},
         f"{CONTAINER}.env[0].value"),
    Case("deadline-zero", {"spec.trialTemplate.spec.activeDeadlineSeconds": 0},
         "spec.trialTemplate.spec.activeDeadlineSeconds"),
    Case("study-name-too-long", {"metadata.name": "s" * 53}, "metadata.name"),
    Case("empty-choices", {P3: {**CAT, "choices": []}}, f"{P3}.choices"),
    Case("duplicate-choices", {P3: {**CAT, "choices": ["adam", "sgd", "adam"]}},
         f"{P3}.choices"),
    Case("center-not-a-choice", {P3: {**CAT, "searchCenter": "lion"}}, f"{P3}.searchCenter"),
    Case("numeric-center-of-choices", {P3: {**CAT, "searchCenter": 1}}, f"{P3}.searchCenter"),
    Case("choices-on-numeric", {f"{P3}.choices": ["a", "b"]}, f"{P3}.choices"),
    Case("categorical-without-choices", {P3: {"name": "momentum", "space": "categorical"}},
         f"{P3}.choices"),
    Case("numeric-choice", {P3: {**CAT, "choices": ["adam", 3]}}, f"{P3}.choices[1]"),
    Case("bounds-on-categorical", {P3: {**CAT, "min": 0}}, f"{P3}.min"),
    Case("step-on-categorical", {P3: {**CAT, "step": 1}}, f"{P3}.step"),
    Case("integer-categorical", {P3: {**CAT, "integer": True}}, f"{P3}.integer"),
    Case("rounding-on-ordinal", {P3: {**ORD, "roundingFactor": 2}}, f"{P3}.roundingFactor"),
    Case("values-on-categorical", {P3: {**CAT, "values": [1, 2]}}, f"{P3}.values"),
    Case("ordinal-without-values", {P3: {"name": "momentum", "space": "ordinal"}},
         f"{P3}.values"),
    Case("empty-values", {P3: {**ORD, "values": []}}, f"{P3}.values"),
    Case("mixed-values", {P3: {**ORD, "values": [1, "two"]}}, f"{P3}.values"),
    Case("object-value", {P3: {**ORD, "values": [1, {"a": 2}]}}, f"{P3}.values[1]"),
    Case("values-on-numeric", {f"{P3}.values": [1, 2]}, f"{P3}.values"),
    Case("step-not-dividing", {f"{P3}.step": 0.3}, f"{P3}.step"),
    Case("step-on-logit", {f"{P2}.step": 0.01}, f"{P2}.step"),
    Case("step-on-integer", {f"{P1}.step": 8, f"{P1}.roundingFactor": DELETE}, f"{P1}.step"),
    Case("step-zero", {f"{P3}.step": 0}, f"{P3}.step"),
    Case("open-linear-without-center", {f"{P3}.max": DELETE}, f"{P3}.searchCenter"),
    Case("open-log-without-center", {f"{P0}.min": DELETE, f"{P0}.searchCenter": DELETE},
         f"{P0}.searchCenter"),
    Case("half-open-logit-without-center", {f"{P2}.max": DELETE}, f"{P2}.searchCenter"),
    Case("string-center-of-numeric", {f"{P0}.searchCenter": "0.01"}, f"{P0}.searchCenter"),
    Case("center-above-open-min", {f"{P3}.min": DELETE, f"{P3}.searchCenter": 2},
         f"{P3}.searchCenter"),
]

BAD_FOR_BOTH += [
    Case("collector-bad-kind", {MC: {"kind": "Stdout"}}, f"{MC}.kind"),
    Case("collector-format-on-report", {MC: {"format": "JSON"}}, f"{MC}.format"),
    Case("collector-regex-on-report", {MC: {"kind": "Report", "metricsFormat": ["(a)=(b)"]}},
         f"{MC}.metricsFormat"),
    Case("collector-strategies-on-report",
         {MC: {"metricStrategies": [{"name": "a", "value": "max"}]}}, f"{MC}.metricStrategies"),
    Case("collector-regex-on-json", {MC: {"kind": "StdOut", "format": "JSON",
                                          "metricsFormat": ["(a)=(b)"]}}, f"{MC}.metricsFormat"),
    Case("collector-bad-strategy", {MC: {"kind": "StdOut", "metricStrategies": [
        {"name": "a", "value": "median"}]}}, f"{MC}.metricStrategies[0].value"),
    Case("collector-duplicate-strategy", {MC: {"kind": "StdOut", "metricStrategies": [
        {"name": "a", "value": "min"}, {"name": "a", "value": "max"}]}},
        f"{MC}.metricStrategies[1].name"),
    Case("collector-empty-regexes", {MC: {"kind": "StdOut", "metricsFormat": []}},
         f"{MC}.metricsFormat"),
    Case("kind-without-api-version", {f"{TT}.kind": "JobSet"}, f"{TT}.kind"),
    Case("api-version-without-kind", {f"{TT}.apiVersion": "batch/v1"}, f"{TT}.kind"),
    Case("unsupported-kind", {TT: {**copy.deepcopy(JOBSET), "kind": "MPIJob"}}, f"{TT}.kind"),
    Case("kind-with-wrong-version", {TT: {**copy.deepcopy(JOBSET),
                                          "apiVersion": "jobset.x-k8s.io/v1"}}, f"{TT}.kind"),
    Case("job-without-template", {f"{TT}.spec.template": DELETE}, f"{TT}.spec.template"),
    Case("empty-condition", {f"{TT}.successCondition": ""}, f"{TT}.successCondition"),
]

ONLY_PYDANTIC = [
    # The kind table (where the containers are) and CEL compilation live in Python.
    Case("jobset-without-containers", {TT: {**copy.deepcopy(JOBSET), "spec": {}}},
         f"{TT}.spec"),
    Case("unknown-primary-container", {TT: {**copy.deepcopy(JOBSET),
                                            "primaryContainerName": "trainr"}},
         f"{TT}.primaryContainerName"),
    Case("condition-not-cel", {f"{TT}.failureCondition": "self.status.(("},
         f"{TT}.failureCondition"),
    Case("placeholder-outside-containers", {TT: {**copy.deepcopy(JOBSET), "metadata": {
        "labels": {"lr": "${params.lr}"}}}}, f"{TT}.metadata.labels.lr"),
    Case("reserved-env-in-a-replica", {}, f"{TT}.spec.pytorchReplicaSpecs.Worker.template.spec"
         ".containers[0].env[0].name", then=lambda o: o["spec"].update(trialTemplate={
             **copy.deepcopy(PYTORCHJOB), "spec": {"pytorchReplicaSpecs": {
                 **PYTORCHJOB["spec"]["pytorchReplicaSpecs"],
                 "Worker": {"template": {"spec": {"containers": [{
                     "name": "pytorch", "env": [{"name": "CARBS_TRIAL", "value": "x"}]}]}}}}}})),
    # Python's re is the regex engine; a CRD cannot compile a pattern or count its groups.
    Case("collector-regex-invalid", {MC: {"kind": "StdOut", "metricsFormat": ["(a"]}},
         f"{MC}.metricsFormat[0]"),
    Case("collector-regex-one-group", {MC: {"kind": "StdOut", "metricsFormat": ["loss=(.*)"]}},
         f"{MC}.metricsFormat[0]"),
    # Ordinal values compared in CEL would be untyped comparisons of unbounded cost.
    Case("duplicate-values", {P3: {**ORD, "values": [1, 2, 2.0]}}, f"{P3}.values"),
    Case("center-not-a-value", {P3: {**ORD, "searchCenter": 3}}, f"{P3}.searchCenter"),
    Case("string-center-of-numbers", {P3: {**ORD, "searchCenter": "2"}}, f"{P3}.searchCenter"),
    Case("undeclared-placeholder", {f"{CONTAINER}.args": ["--depth=${params.depth}"]},
         f"{CONTAINER}.args[0]"),
    Case("unterminated-placeholder", {f"{CONTAINER}.args": ["--lr=${params.lr"]},
         f"{CONTAINER}.args[0]"),
    Case("placeholder-in-env-name", {f"{CONTAINER}.env": [{"name": "${params.lr}", "value": "1"}]},
         f"{CONTAINER}.env[0].name"),
    Case("placeholder-in-sidecar", {}, CONTAINER.replace("[0]", "[1]") + ".args[0]",
         then=lambda o: _containers(o).append({"name": "side", "args": ["${params.lr}"]})),
    Case("reserved-env", {f"{CONTAINER}.env": [{"name": "CARBS_PARAM_LR", "value": "1"}]},
         f"{CONTAINER}.env[0].name"),
    Case("reserved-result-file",
         {f"{CONTAINER}.env": [{"name": "CARBS_RESULT_FILE", "value": "x"}]},
         f"{CONTAINER}.env[0].name"),
]

GOOD_TRIALS = [
    Case("trial", {}, build=trial),
    Case("trial-no-status", {"status": DELETE}, build=trial),
    Case("categorical-param", {"spec.params.optimizer": "adam"}, build=trial),
    Case("early-stopped", {"status": {
        "phase": "EarlyStopped", "objective": 0.9, "cost": 2e8,
        "learningCurve": [{"step": 0, "objective": 1.5, "cost": 1e8},
                          {"step": 1, "objective": 0.9, "cost": 2e8},
                          {"step": 2, "objective": 0.8}],
        "lastProgressTime": "2026-01-01T00:00:00Z",
        "progressWarning": "2 malformed progress lines skipped",
        "earlyStop": {"reason": "worse than the frontier", "step": 1, "objective": 0.9,
                      "cost": 2e8, "time": "2026-01-01T00:00:01Z"}}}, build=trial),
]
BAD_TRIALS = [
    Case("negative-index", {"spec.index": -1}, "spec.index", build=trial),
    Case("object-param", {"spec.params.lr": {"v": 0.1}}, "spec.params.lr", build=trial),
    Case("boolean-param", {"spec.params.lr": True}, "spec.params.lr", build=trial),
    Case("bad-kind", {"spec.suggestion.kind": "guess"}, "spec.suggestion.kind", build=trial),
    Case("bad-phase", {"status.phase": "Done"}, "status.phase", build=trial),
    Case("nan-metric", {"status.metrics.val_loss": float("nan")}, "status.metrics.val_loss",
         build=trial),
    Case("trial-name-too-long", {"metadata.name": "t" * 64}, "metadata.name", build=trial),
    Case("curve-too-long", {"status.learningCurve": [
        {"step": i, "objective": 1.0} for i in range(65)]}, "status.learningCurve", build=trial),
    Case("curve-negative-step", {"status.learningCurve": [{"step": -1, "objective": 1.0}]},
         "status.learningCurve[0].step", build=trial),
    Case("early-stop-without-reason", {"status.earlyStop": {"step": 1, "objective": 1.0}},
         "status.earlyStop.reason", build=trial),
    Case("too-many-params", {"spec.params": {f"p{i}": 1.0 for i in range(65)}}, "spec.params",
         build=trial),
]
