"""The engine's exceptions: one base, `CarbsError`, exported from carbs_optimizer.

Each class also keeps the builtin base its callers have always caught, so catching either
works:

```
CarbsError
├── state.StateError        (ValueError)    a state document that cannot be loaded
└── carbs.SamplingError     (RuntimeError)  no point inside the bounds could be sampled
```

Bad arguments (a value a space cannot hold, a suggestion without its id) stay plain
`ValueError`s, as in the reference implementation. This module imports nothing.
"""

from __future__ import annotations

__all__ = ["CarbsError"]


class CarbsError(Exception):
    """The base of every exception the engine raises on purpose."""
