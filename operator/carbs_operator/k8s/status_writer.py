"""Writing a study's status: the derived view from the worker pool, or Invalid.

A mixin of `StudyReconciler` (reconciler.py), kept apart so each file says one thing: this
one what a pass writes back to the study object, and when it writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from carbs_operator.k8s.api import STUDIES, ObjectApi
from carbs_operator.k8s.views import StudyViews
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import CarbsStudy, StudyPhase, StudyStatus
from carbs_operator.models.status import WarmStartStatus
from carbs_operator.status import invalid_status
from carbs_operator.study import TrialRecord

INVALID_SPEC = "InvalidSpec"
#: A study's views are at least this far apart, and VIEW_SPACING times what the last took.
VIEW_MIN_SECONDS = 1.0
VIEW_SPACING = 4.0


class StatusWriter:
    """The status half of a study's reconciler (its attributes are the reconciler's)."""

    api: ObjectApi
    body: dict[str, Any]
    post_event: Callable[[dict[str, Any], str, str, str], None]
    name: str
    namespace: str
    views: StudyViews
    metrics: StudyMetrics | None
    _invalid: tuple[int | None, str] | None
    _accepted: bool
    _warm_status: WarmStartStatus | None
    _view_task: asyncio.Task[None] | None = None
    _written_phase: StudyPhase | None = None
    _view_generation: int | None = None
    _view_event: asyncio.Event | None = None

    def _view_urgent(self) -> asyncio.Event:
        if self._view_event is None:
            self._view_event = asyncio.Event()
        return self._view_event
    _view_next: tuple[dict[str, Any], CarbsStudy, list[TrialRecord], int | None] | None = None

    def _log(self, message: str, *args: Any, trial: str | None = None,
             level: int = logging.INFO) -> None:
        raise NotImplementedError

    def _previous_status(self) -> StudyStatus | None:
        try:
            return StudyStatus.model_validate(self.body.get("status") or {})
        except ValidationError:
            return None

    async def _write_status(
        self, body: dict[str, Any], study: CarbsStudy, records: list[TrialRecord],
        generation: int | None,
    ) -> None:
        """Have the status written from these records, without waiting for it.

        The view is computed in the worker pool behind other studies' views; a pass that
        waited for it would hold the study's next pass, and so its next trial, behind them.
        One writer task per study: while it computes, a newer pass's records replace the
        ones it will take next, so a burst of passes costs one more view, not one each.
        """
        self._view_next = (body, study, records, generation)
        if generation != self._view_generation or not any(r.in_flight for r in records):
            # A spec edit (suspend, parallelism, budget) or a study with nothing running
            # (done, or waiting): what the status says now matters, no spacing.
            self._view_urgent().set()
        if self._view_task is None or self._view_task.done():
            self._view_task = asyncio.create_task(self._write_views(),
                                                  name=f"carbs-view-{self.name}")

    def stop_views(self) -> None:
        """Cancel the status writer (the study is stopped, or marked Invalid)."""
        self._view_next = None
        if self._view_task is not None:
            self._view_task.cancel()

    async def _write_views(self) -> None:
        while self._view_next is not None:
            args, self._view_next = self._view_next, None
            urgent = self._view_urgent()
            urgent.clear()  # set again by a pass from now on: no spacing after this view
            began = time.monotonic()
            try:
                if await self._write_view(*args):
                    # A study's view costs CPU in proportion to its trials; spaced by a
                    # multiple of what the last one took, views of busy studies take a
                    # bounded share of the workers, and the latest records still win.
                    spent = time.monotonic() - began
                    self._view_generation = args[3]
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(urgent.wait(),
                                               max(VIEW_MIN_SECONDS, VIEW_SPACING * spent))
            except asyncio.CancelledError:
                raise
            except Exception:  # an API error or a bug: logged; the next pass tries again
                logging.getLogger("carbs_operator").exception(
                    "writing the status of study %s/%s failed", self.namespace, self.name)
                if self.metrics is not None:
                    self.metrics.record_reconcile_error(self.namespace, self.name)

    async def _write_view(
        self, body: dict[str, Any], study: CarbsStudy, records: list[TrialRecord],
        generation: int | None,
    ) -> bool:
        """The derived view (status, laws, prediction, metrics) comes from the worker pool,
        and not at all when the trials are as they were when it was last written (False)."""
        previous = self._previous_status()
        view = await self.views.derive(body, records, generation, previous)
        if view is None:
            return False
        status = view.status
        if study.spec.warm_start is not None:
            status.warm_start = self._warm_status or (previous.warm_start if previous else None)
        await self._patch_if_changed(status, previous)
        self.views.commit(view)
        return True

    async def _patch_if_changed(self, status: StudyStatus, previous: StudyStatus | None) -> None:
        new = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        old = previous.model_dump(mode="json", by_alias=True, exclude_none=True) if previous else {}
        if new == old:
            return
        # The phase this replica last wrote wins over the body's: a watch event older than
        # that write may have replaced the body since, and would announce the phase twice.
        before = self._written_phase if self._written_phase is not None else (
            previous.phase if previous is not None else None)
        changed = before != status.phase
        if changed and status.phase != StudyPhase.INVALID:  # InvalidSpec says more
            self.post_event(self.body, "Normal", f"Study{status.phase}",
                            f"study {self.name} is {status.phase}")
            if status.phase is not None and status.phase.is_final:
                self._log("%s (%s trials finished, total cost %.6g)",
                          "completed" if status.phase == StudyPhase.SUCCEEDED else "failed",
                          status.progress, status.total_cost,
                          level=logging.INFO if status.phase == StudyPhase.SUCCEEDED
                          else logging.WARNING)
        await self.api.patch_status(STUDIES, self.namespace, self.name, new)
        self.body = {**self.body, "status": new}
        self._written_phase = status.phase

    async def _mark_invalid(self, message: str, generation: int | None, reason: str) -> None:
        """Phase Invalid, Valid=False with `reason` (InvalidSpec or SearchChanged); no trial
        starts until the spec is fixed. Once per generation and reason."""
        if self._invalid == (generation, reason):
            return
        message = message[:4000]
        status = invalid_status(message, generation, self._previous_status(), datetime.now(UTC))
        if reason != INVALID_SPEC:
            status.conditions = [c.model_copy(update={"reason": reason}) if c.type == "Valid"
                                 else c for c in status.conditions]
        self.post_event(self.body, "Warning", reason, message)
        self._log("invalid (%s): %s", reason, message, level=logging.WARNING)
        self._accepted = False
        self.stop_views()
        self.views.forget()
        await self._patch_if_changed(status, self._previous_status())
        self._invalid = (generation, reason)
