"""An in-memory StudySource returning JSON of exactly ui/source.py's shapes.

It lets the server and page be tested on studies no real run produces cheaply: thousands
of trials, every phase, hostile strings in names, choices and reasons, and a study that
grows while the page is open (`FakeStudy.add_trial`). The numbers are simple and
deterministic (a seeded RNG); the frontier, laws and importance are computed here the
plain way, enough to draw and to check the page against.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from carbs_operator.ui.source import JSON, StudyNotFoundError

PHASES_FINISHED = ("Succeeded", "Failed", "Lost", "EarlyStopped")


@dataclass
class FakeStudy:
    """One study: parameters, trials, and a revision that moves with every change."""

    key: str
    name: str
    choices: list[str] = field(default_factory=lambda: ["adam", "sgd"])
    namespace: str | None = None
    budget: int = 100
    max_total_cost: float | None = 5e13
    phase: str = "Running"
    failure_reason: str = "exit code 1: CUDA out of memory"
    logs: bool = False
    trials: list[JSON] = field(default_factory=list)
    curves: dict[int, list[list[float]]] = field(default_factory=dict)
    revision: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 (fixture data, not secrets)

    @property
    def parameters(self) -> list[JSON]:
        return [
            {"name": "lr", "space": "log", "min": 1e-5, "max": 1.0, "integer": False,
             "choices": None, "values": None},
            {"name": "width", "space": "log", "min": 8, "max": 4096, "integer": True,
             "choices": None, "values": None},
            {"name": "optimizer", "space": "categorical", "min": None, "max": None,
             "integer": False, "choices": list(self.choices), "values": None},
        ]

    def add_trial(self, phase: str | None = None, **params: Any) -> JSON:
        """Appends one trial (random params unless given) and moves the revision."""
        rng = self.rng
        index = len(self.trials)
        width = int(params.get("width", round(2 ** rng.uniform(3, 12))))
        lr = float(params.get("lr", 10 ** rng.uniform(-5, 0)))
        optimizer = params.get("optimizer", rng.choice(self.choices))
        cost = float(width) ** 2 * 1e5
        objective = (0.2 + 30.0 / math.sqrt(width) + (math.log10(lr) + 2.5 + 0.4
                     * math.log10(width / 64)) ** 2 * 0.3
                     + (0.05 if optimizer != self.choices[0] else 0.0) + rng.gauss(0, 0.02))
        if phase is None:
            draw = rng.random()
            phase = ("Failed" if draw < 0.08 else "EarlyStopped" if draw < 0.16 else
                     "Succeeded")
        steps = 20
        stop_step = None
        reason = None
        if phase == "Failed":
            reason = self.failure_reason
        elif phase == "EarlyStopped":
            stop_step = 6
            reason = "stopped at step 6: 0.81 above the frontier's prediction"
        elif phase == "Lost":
            reason = "the Job vanished without a result"
        last = stop_step if stop_step is not None else steps
        if phase in ("Succeeded", "EarlyStopped", "Running"):
            shown = last if phase != "Running" else 8
            self.curves[index] = [[float(step), objective + 2.0 / (step + 1)]
                                  for step in range(shown)]
        finished = phase in PHASES_FINISHED
        entry: JSON = {
            "index": index, "name": f"{self.name}-{index}", "phase": phase,
            "params": {"lr": lr, "width": width, "optimizer": optimizer},
            "objective": (objective if phase == "Succeeded" else
                          self.curves[index][-1][1] if phase == "EarlyStopped" else None),
            "cost": cost if finished else None, "reason": reason, "stopStep": stop_step,
            "onFrontier": False,
            "startedAt": f"2026-12-07T15:{index % 60:02d}:00Z",
            "finishedAt": f"2026-12-07T16:{index % 60:02d}:00Z" if finished else None,
        }
        self.trials.append(entry)
        self.revision += 1
        return entry

    def finish(self, index: int, objective: float) -> None:
        """Marks a running trial succeeded with this objective."""
        trial = self.trials[index]
        trial.update(phase="Succeeded", objective=objective,
                     cost=float(trial["params"]["width"]) ** 2 * 1e5,
                     finishedAt="2026-12-07T16:59:00Z")
        self.revision += 1

    # --- derived, the plain way ---------------------------------------------------------

    def frontier(self) -> list[int]:
        done = sorted((t for t in self.trials if t["phase"] == "Succeeded"),
                      key=lambda t: (t["cost"], t["objective"]))
        best = math.inf
        front = []
        for trial in done:
            if trial["objective"] < best:
                best = trial["objective"]
                front.append(trial["index"])
        return front

    def laws(self, front: list[int]) -> list[JSON]:
        points = [self.trials[i] for i in front]
        laws: list[JSON] = []
        if len(points) < 3:
            return laws
        xs = [math.log(p["cost"]) for p in points]
        low_cost, high_cost = points[0]["cost"], points[-1]["cost"]
        for name in ("lr", "width"):
            ys = [math.log(p["params"][name]) for p in points]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            sxx = sum((x - mx) ** 2 for x in xs) or 1.0
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
            intercept = my - slope * mx
            line = []
            for k in range(12):
                cost = low_cost * (high_cost / low_cost) ** (k / 11)
                value = math.exp(intercept + slope * math.log(cost))
                line.append({"cost": cost, "value": value, "low": value * 0.7,
                             "high": value * 1.4})
            interval = [slope - 0.1, slope + 0.1]
            verdict = "law" if interval[0] > 0 or interval[1] < 0 else "no law"
            saturation = None
            if name == "lr":  # one saturated law, to draw its marker
                verdict, saturation = "saturated", points[len(points) // 2]["cost"]
            laws.append({
                "parameter": name, "space": "log", "fit": "frontier", "exponent": slope,
                "interval": interval, "intercept": intercept, "r2": 0.83,
                "points": len(points), "verdict": verdict, "heldValue": None,
                "saturationCost": saturation,
                "reading": f"{name} ∝ cost^{slope:.3g} (80% interval {interval[0]:.3g} to "
                           f"{interval[1]:.3g})",
                "bands": None, "line": line,
            })
        bands = [{"minCost": low_cost, "maxCost": high_cost,
                  "value": points[-1]["params"]["optimizer"], "points": len(points)}]
        laws.append({
            "parameter": "optimizer", "space": "categorical", "fit": None, "exponent": None,
            "interval": None, "intercept": None, "r2": None, "points": len(points),
            "verdict": "no law", "heldValue": points[-1]["params"]["optimizer"],
            "saturationCost": None,
            "reading": f"optimizer: the frontier uses {points[-1]['params']['optimizer']}",
            "bands": bands, "line": [],
        })
        return laws

    def summary(self) -> JSON:
        finished = [t for t in self.trials if t["phase"] in PHASES_FINISHED]
        best = min((t for t in self.trials if t["phase"] == "Succeeded"),
                   key=lambda t: t["objective"], default=None)
        return {
            "key": self.key, "name": self.name, "namespace": self.namespace,
            "source": "local" if self.namespace is None else "cluster", "phase": self.phase,
            "trials": {"finished": len(finished), "total": len(self.trials),
                       "budget": self.budget},
            "best": ({"trial": best["index"], "objective": best["objective"]}
                     if best else None),
            "totalCost": sum(t["cost"] for t in finished if t["cost"] is not None),
            "maxTotalCost": self.max_total_cost,
            "conditions": [{"type": "Valid", "status": "True", "reason": "SpecValid",
                            "message": ""}],
            "objective": {"metric": "val_loss", "direction": "minimize"},
            "costLabel": "flops", "revision": str(self.revision),
        }

    def manifest(self) -> str:
        return yaml.safe_dump({
            "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
            "metadata": {"name": self.name},
            "spec": {"objective": {"metric": "val_loss", "direction": "minimize"},
                     "cost": {"metric": "flops"},
                     "parameters": [{k: v for k, v in p.items() if v is not None}
                                    for p in self.parameters],
                     "budget": {"maxTrials": self.budget, "maxTotalCost": self.max_total_cost}},
        }, sort_keys=False)

    def predict(self, cost: float) -> JSON:
        front = self.frontier()
        laws = [law for law in self.laws(front) if law["exponent"] is not None]
        if not laws:
            return {"error": "the frontier is too short to fit a law (3 points needed)"}
        params: JSON = {law["parameter"]: math.exp(law["intercept"] + law["exponent"]
                                                   * math.log(cost)) for law in laws}
        params["optimizer"] = self.trials[front[-1]]["params"]["optimizer"]
        intervals = {name: [value * 0.7, value * 1.4] if isinstance(value, float)
                     else [value, value] for name, value in params.items()}
        top = self.trials[front[-1]]
        objective = top["objective"] * (cost / top["cost"]) ** -0.05
        return {"cost": cost, "params": params, "intervals": intervals, "objective": objective,
                "objectiveInterval": [objective * 0.95, objective * 1.05],
                "extrapolation": cost / max(t["cost"] for t in self.trials
                                            if t["phase"] == "Succeeded")}

    def view(self) -> JSON:
        front = self.frontier()
        on = set(front)
        trials = [{**t, "onFrontier": t["index"] in on} for t in self.trials]
        laws = self.laws(front)
        prediction = None
        if front and front[-1] is not None and len(front) >= 3:
            prediction = self.predict(10 * self.trials[front[-1]]["cost"])
        summary = self.summary()
        return {
            "key": self.key, "name": self.name, "namespace": self.namespace,
            "revision": str(self.revision),
            "objective": {"metric": "val_loss", "direction": "minimize"}, "costLabel": "flops",
            "parameters": self.parameters, "summary": summary,
            "status": {"phase": self.phase, "conditions": summary["conditions"],
                       "progress": f"{summary['trials']['finished']}/{self.budget}"},
            "trials": trials, "frontier": front, "laws": laws, "scaleUp": prediction,
            "manifest": self.manifest(),
        }

    def importance(self) -> JSON:
        front = [self.trials[i] for i in self.frontier()]
        bands = []
        if front:
            half = max(1, len(front) // 2)
            for chunk, shares in ((front[:half], {"lr": 0.6, "width": 0.3, "optimizer": 0.1}),
                                  (front[half:], {"lr": 0.2, "width": 0.7, "optimizer": 0.1})):
                if chunk:
                    bands.append({"minCost": chunk[0]["cost"], "maxCost": chunk[-1]["cost"],
                                  "trials": len(chunk), "importance": shares})
        return {"method": "fANOVA (fake)", "bands": bands,
                "overall": {"lr": 0.4, "width": 0.5, "optimizer": 0.1}}


class FakeSource:
    """StudySource over FakeStudy objects; thread-safe (the server calls from a pool)."""

    def __init__(self, studies: list[FakeStudy]) -> None:
        self.lock = threading.Lock()
        self.by_key = {study.key: study for study in studies}

    def _study(self, key: str) -> FakeStudy:
        try:
            return self.by_key[key]
        except KeyError:
            raise StudyNotFoundError(key) from None

    def studies(self) -> list[JSON]:
        with self.lock:
            return [study.summary() for study in self.by_key.values()]

    def revision(self, key: str) -> str:
        with self.lock:
            return str(self._study(key).revision)

    def view(self, key: str) -> JSON:
        with self.lock:
            return self._study(key).view()

    def curves(self, key: str) -> JSON:
        with self.lock:
            study = self._study(key)
            return {"metric": "val_loss", "trials": [
                {"index": index, "phase": study.trials[index]["phase"],
                 "stopped": study.trials[index]["phase"] == "EarlyStopped",
                 "stopStep": study.trials[index]["stopStep"], "points": points}
                for index, points in study.curves.items()]}

    def trial(self, key: str, index: int) -> JSON | None:
        with self.lock:
            study = self._study(key)
            if not 0 <= index < len(study.trials):
                return None
            entry = {**study.trials[index], "onFrontier": index in study.frontier()}
            metrics = ({"val_loss": entry["objective"], "flops": entry["cost"]}
                       if entry["objective"] is not None else {})
            log = None
            if study.logs:
                log = [f"step {s} loss {p[1]:.4f}" for s, p in
                       enumerate(study.curves.get(index, []))] + [study.failure_reason]
            return {"trial": entry, "curve": study.curves.get(index, []), "metrics": metrics,
                    "log": log}

    def importance(self, key: str) -> JSON:
        with self.lock:
            return self._study(key).importance()

    def predict(self, key: str, cost: float) -> JSON:
        with self.lock:
            return self._study(key).predict(cost)


def make_study(key: str, trials: int, seed: int = 0, **kwargs: Any) -> FakeStudy:
    """A study with `trials` random trials, the last two still running."""
    study = FakeStudy(key=key, name=kwargs.pop("name", key), seed=seed, **kwargs)
    for number in range(trials):
        study.add_trial("Running" if number >= trials - 2 else None)
    return study
