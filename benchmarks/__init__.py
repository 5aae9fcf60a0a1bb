"""Speed and quality benchmarks of the CARBS engine (see benchmarks/README.md).

Run from the repository root as modules, e.g. ``.venv/bin/python -m benchmarks.suggest_latency``
and ``.venv/bin/python -m benchmarks.quality``; each takes ``--quick`` for a smoke run.
"""
