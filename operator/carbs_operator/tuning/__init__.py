"""`tune()`: a whole study from Python, locally or on a cluster, and its result.

Kept empty on purpose: `python -m carbs_operator.tuning.trial` imports this package inside
every trial (possibly a bare install without pydantic or torch), so nothing heavy may be
imported here. `carbs_operator.tune` and `carbs_operator.load_study` are re-exported
lazily by the top-level package from `carbs_operator.tuning.api`.
"""
