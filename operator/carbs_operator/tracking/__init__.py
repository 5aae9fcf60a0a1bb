"""Experiment trackers (spec.tracking): MLflow and Weights & Biases, opt-in, off the study's path.

- worker.py: the bounded background queue every tracker call goes through (the failure
  policy: what is retried, what is dropped);
- records.py: what a trial and a study look like to a tracker (params, metrics, the
  progress curve as steps, tags), pure;
- mlflow_sink.py, wandb_sink.py: one backend each, imported only when the spec names it;
- tracker.py: StudyTracker, the one object the local runner and the operator talk to, and
  the operator's hook (`trial_finished`).

mlflow and wandb are not dependencies of carbs-operator: install them where the study runs
(`pip install mlflow` / `wandb`); a tracker whose package is missing is skipped with one
warning.
"""
