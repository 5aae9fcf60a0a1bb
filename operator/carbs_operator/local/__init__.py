"""The local runtime of `carbs run`: SQLite state, trial launcher, runner, progress."""
