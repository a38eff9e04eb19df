"""The Ray backend: a sweep's work units run as Ray tasks, on a local Ray or an existing cluster.

What runs where: this process (the *driver*) plans the units, submits one
Ray task per unit (one activation x grid point, all its seeds) and alone
writes the results store. Each task loads the data on its node (from the
package's embedded subset, ``--data-dir`` or the download cache there),
trains with the compare engine, and after every epoch hands the epoch record
to a small *mailbox* actor pinned to the driver's node, waiting until the
mailbox has it. The driver drains the mailbox a few times a second and
stores each epoch in its own transaction, so an epoch that finished is
stored even if its worker dies a moment later.

Failures: a worker or node that dies mid-unit (crash, kill, out of memory)
makes the driver announce :class:`~actlab.compare.events.RunsRestarted`
for the unit's unfinished runs (their partial epochs are deleted) and submit
them again, up to ``max_retries`` times; finished runs are not retrained.
Ray's own task retries are off, so every attempt is known to the driver and
records from an abandoned attempt are dropped. A Python error in training is
not retried: it is raised here, as the local executors do.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

from .asha import PollingReader
from .events import EpochEvent, RunsRestarted, UnitDone, UnitStarted, finishes_run, require_extra

POLL_SECONDS = 0.2  # how long the driver waits for a finished task before draining the mailbox again
# A local Ray stays on this machine: no usage statistics, no dashboard.
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0"}


def require_ray():
    return require_extra("ray", "ray", "the Ray backend (--backend ray)")


class PostOffice:
    """A Ray actor (num_cpus=0): epoch events from tasks to the driver, ASHA decisions from the driver to tasks."""

    def __init__(self):
        self.events: list = []
        self.decisions: dict = {}

    def put(self, item) -> None:
        self.events.append(item)

    def drain(self) -> list:
        out, self.events = self.events, []
        return out

    def post(self, key, go: bool) -> None:
        self.decisions[key] = go

    def get(self, key):
        return self.decisions.get(key)

    def clear(self, unit_id: Optional[int] = None) -> None:
        """Forget the decisions for one unit, or all of them (None)."""
        self.decisions = {k: v for k, v in self.decisions.items() if unit_id is not None and k[0] != unit_id}


def run_unit(task, unit, tag: tuple, mailbox, threads: int) -> None:
    """The Ray task: train one unit, delivering every event to the mailbox (tagged with ``tag``: the
    executor's call and the unit's attempt) before going on."""
    import ray
    import torch

    torch.set_num_threads(threads)

    def emit(event) -> None:
        ray.get(mailbox.put.remote((unit.unit_id, tag, event)))

    emit(UnitStarted(unit.unit_id))
    task(unit, emit)


class _ActorDecisions:
    """Mapping-like view of the decisions held by a PostOffice actor (for :class:`PollingReader`)."""

    def __init__(self, actor):
        self.actor = actor

    def get(self, key):
        import ray

        return ray.get(self.actor.get.remote(key))


class RayBoard:
    """ASHA's decision board on a PostOffice actor (see :mod:`actlab.compare.asha`)."""

    def __init__(self, actor):
        self.actor = actor
        self.reader = PollingReader(_ActorDecisions(actor))

    def post(self, key, go: bool) -> None:
        import ray

        ray.get(self.actor.post.remote(key, go))

    def clear(self, unit_id: int) -> None:
        import ray

        ray.get(self.actor.clear.remote(unit_id))

    def close(self) -> None:
        import ray

        ray.get(self.actor.clear.remote())


class RayExecutor:
    """Runs work units as Ray tasks; an :class:`~actlab.compare.executors.Executor`.

    ``address``: None starts a private local Ray (``num_cpus`` CPUs, default
    all; bound to 127.0.0.1, no dashboard) and stops it on :meth:`close`;
    ``"auto"`` or ``"HOST:PORT"`` joins a running cluster, which is left
    running. If Ray is already initialised in this process it is used as it
    is. ``cpus_per_unit``: CPUs (and torch threads) each task asks for.
    ``max_retries``: how often a unit whose worker died is started again.
    Use as a context manager, or call :meth:`close`.
    """

    name = "ray"

    def __init__(self, address: Optional[str] = None, *, num_cpus: Optional[int] = None, cpus_per_unit: int = 1,
                 max_retries: int = 2):
        if num_cpus is not None and num_cpus < 1:
            raise ValueError(f"num_cpus must be at least 1 (got {num_cpus})")
        if cpus_per_unit < 1:
            raise ValueError(f"cpus_per_unit must be at least 1 (got {cpus_per_unit})")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more (got {max_retries})")
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_unit, self.max_retries = cpus_per_unit, max_retries
        self._started = False
        self._office = None  # one PostOffice actor for every call (an actor is a process: slow to start)
        self._calls = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        """Start or join Ray (once); returns the ray module."""
        ray = require_ray()
        if ray.is_initialized():
            return ray
        for key, value in RAY_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
        if self.address:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError) as e:
                raise ValueError(f"cannot join the Ray cluster at {self.address!r} ({e}); start one with "
                                 "'ray start --head' or give its address as HOST:PORT") from None
        else:
            ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1")
            self._started = True
        return ray

    def close(self) -> None:
        """Stop the local Ray this executor started (a joined cluster keeps running)."""
        if self._office is not None:
            require_ray().kill(self._office)
            self._office = None
        if self._started:
            require_ray().shutdown()
            self._started = False

    def _post_office(self):
        """The PostOffice actor, started on the driver's node on first use."""
        ray = self.connect()
        if self._office is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
            self._office = ray.remote(PostOffice).options(num_cpus=0, scheduling_strategy=here).remote()
        return self._office

    def make_board(self) -> RayBoard:
        board = RayBoard(self._post_office())
        board.close()  # no decision of an earlier sweep may leak into this one
        return board

    def run(self, units, task, on_event) -> None:
        if not units:
            return
        ray = self.connect()
        from ray.exceptions import NodeDiedError, OutOfMemoryError, RayTaskError, WorkerCrashedError

        worker_lost = (WorkerCrashedError, NodeDiedError, OutOfMemoryError)
        mailbox = self._post_office()
        self._calls += 1
        call = self._calls
        remote = ray.remote(run_unit).options(num_cpus=self.cpus_per_unit, max_retries=0)
        # A run is through with this call at its last epoch, or at the round's end (unit.until).
        planned = {run_id: min(int(c["epochs"]), u.until or int(c["epochs"]))
                   for u in units for run_id, c in zip(u.run_ids, u.configs)}
        attempts = {unit.unit_id: 1 for unit in units}
        finished: set = set()

        def submit(unit):
            return remote.remote(task, unit, (call, attempts[unit.unit_id]), mailbox, self.cpus_per_unit)

        pending = {submit(unit): unit for unit in units}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                # Drained after the wait: every event of a task seen finished is already in the mailbox.
                for unit_id, tag, event in ray.get(mailbox.drain.remote()):
                    if tag != (call, attempts.get(unit_id)):
                        continue  # from an attempt that was given up, or an earlier call that failed
                    if isinstance(event, EpochEvent) and finishes_run(event, planned[event.run_id]):
                        finished.add(event.run_id)
                    on_event(event)
                for ref in ready:
                    unit = pending.pop(ref)
                    try:
                        ray.get(ref)
                    except RayTaskError as e:
                        raise e.as_instanceof_cause() from None
                    except worker_lost as e:
                        retry = self._retry(unit, finished, attempts, e, on_event)
                        if retry is not None:
                            pending[submit(retry)] = retry
                            continue
                    on_event(UnitDone(unit.unit_id))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _retry(self, unit, finished: set, attempts: dict, error: Exception, on_event):
        """The unit's unfinished runs as a new attempt (None if none are left); raises past max_retries."""
        if attempts[unit.unit_id] > self.max_retries:
            raise RuntimeError(
                f"the Ray worker training {unit.configs[0]['activation']} died on each of its "
                f"{attempts[unit.unit_id]} attempt(s) (last: {type(error).__name__}); max_retries="
                f"{self.max_retries}. Finished epochs are stored: rerun the same command to resume") from error
        keep = [i for i, run_id in enumerate(unit.run_ids) if run_id not in finished]
        if not keep:
            return None
        attempts[unit.unit_id] += 1
        retry = dataclasses.replace(unit, run_ids=tuple(unit.run_ids[i] for i in keep),
                                    configs=tuple(unit.configs[i] for i in keep),
                                    resume=tuple(unit.resume_of(i) for i in keep) if unit.resume else ())
        on_event(RunsRestarted(retry.run_ids, f"{type(error).__name__}: the worker died; attempt "
                                              f"{attempts[unit.unit_id]} of {self.max_retries + 1}"))
        return retry
