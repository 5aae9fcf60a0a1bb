"""`carbs ui`: a read-only web view of studies, local (SQLite state) or on a cluster.

The page computes nothing of its own: every number it shows comes from
carbs_operator.study_view, the same pure view `carbs frontier --json` prints and the
operator's status is built from.
"""
