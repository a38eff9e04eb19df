"""Where training runs execute: in this process, or in a pool of worker processes.

The contract is small so that other backends (Ray, a cluster queue) can
plug in. An :class:`Executor` receives :class:`WorkUnit` values (a group of
runs that differ only in seed) and a *task*, a picklable function
``task(unit, emit)`` that trains the unit and calls ``emit(EpochEvent)``
after every epoch. The executor delivers to ``on_event`` in the calling
process, as they happen: a :class:`UnitStarted` when a unit begins (an
executor that cannot tell may leave it out: the unit's first epoch event
then counts as its start), its epoch events, then a :class:`UnitDone`.
Only the calling process touches the results store: workers never write it.
The events are defined in :mod:`.events`; :func:`make_executor` is the one
factory for every executor (local or Ray), used by compare and tune alike.
A :class:`WorkUnit` with ``until`` set is one round: its runs train no
further than that epoch (see :func:`actlab.compare.runner.execute`).
"""
from __future__ import annotations

import collections

import multiprocessing
import os
import pickle
import queue as _queue
import traceback
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence, Union

from .events import Emit, EpochEvent, Event, UnitDone, UnitStarted  # noqa: F401 (the contract's events)


@dataclass(frozen=True)
class DataSpec:
    """How a worker obtains the data splits (everything is loaded, never shipped, to each worker)."""

    dataset: str
    data_dir: Optional[str]
    val_fraction: float
    train_limit: Optional[int]
    split_seed: int


@dataclass(frozen=True)
class WorkUnit:
    """Runs that share everything but the seed; ``configs[i]`` belongs to ``run_ids[i]``."""

    unit_id: int
    run_ids: tuple
    configs: tuple  # plain dicts of training settings
    data: DataSpec
    diagnostics: bool = False
    resume: tuple = ()  # per run: None, or the checkpoint (bytes) of its last stored epoch to continue from
    checkpoints: bool = False  # send each epoch's checkpoint with its event (record["checkpoint"])
    until: Optional[int] = None  # train no further than this epoch in this round (None: to the planned end)

    def resume_of(self, index: int):
        return self.resume[index] if self.resume else None


Task = Callable[[WorkUnit, Emit], None]


class Executor(Protocol):
    """Run every unit with ``task``; call ``on_event`` in this process for each event, in arrival order
    (per unit: UnitStarted, its EpochEvents, UnitDone).

    Returns when every unit is done; the first failure of a unit is raised
    here (events already delivered stay delivered).
    """

    def run(self, units: Sequence[WorkUnit], task: Task, on_event: Callable[[Event], None]) -> None: ...


class InProcessExecutor:
    """Runs units one after another in the calling process (the default; simplest to debug)."""

    name = "in-process"

    def run(self, units, task, on_event):
        for unit in units:
            on_event(UnitStarted(unit.unit_id))
            task(unit, on_event)
            on_event(UnitDone(unit.unit_id))


# --- process pool ----------------------------------------------------------- #
@dataclass(frozen=True)
class _UnitFailed:
    unit_id: int
    error: BaseException
    trace: str


def _worker(task: Task, units, events, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    parent = os.getppid()

    def emit(event) -> None:
        # A worker whose parent died (kill -9) has nobody to report to: stop
        # instead of training on and filling a queue no one reads.
        if os.getppid() != parent:
            os._exit(1)
        events.put(event)

    for unit in iter(units.get, None):
        emit(UnitStarted(unit.unit_id))
        try:
            task(unit, emit)
        except BaseException as e:  # reported to the parent, which raises it
            events.put(_UnitFailed(unit.unit_id, _picklable(e), traceback.format_exc()))
            return
        emit(UnitDone(unit.unit_id))


def _picklable(error: BaseException) -> BaseException:
    """The error itself if it survives the trip to the parent, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _context(task: Task):
    """'forkserver' where available: workers fork from a clean, single-threaded server that has
    imported torch and the task's module once (fast start, no inherited threads); 'spawn' elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        module = getattr(task, "__module__", None)
        ctx.set_forkserver_preload([__name__] + ([module] if module and module != "__main__" else []))
        return ctx
    return multiprocessing.get_context("spawn")


def split_runs(units: Sequence[WorkUnit]) -> tuple[list[WorkUnit], list[int]]:
    """One single-run piece per run of ``units`` (a piece's unit_id is its index into the list), and for
    each piece the unit_id of the unit it came from.

    Single-run pieces keep every worker busy to the end (12 runs on 2 workers: 6 each, where 5
    activation groups would leave one worker idle for a whole group), and they are exact: the engine
    gives a run the same numbers alone or in a group, at the same thread count.
    """
    pieces, parents = [], []
    for unit in units:
        for i, (run_id, config) in enumerate(zip(unit.run_ids, unit.configs)):
            pieces.append(WorkUnit(len(pieces), (run_id,), (config,), unit.data, unit.diagnostics,
                                   (unit.resume_of(i),), unit.checkpoints, unit.until))
            parents.append(unit.unit_id)
    return pieces, parents


class ProcessPoolExecutor:
    """Runs units in ``workers`` fresh processes, each with ``threads`` torch threads (default: the cores
    this process may use, shared out, at least 1), one run at a time (see :func:`split_runs`).

    Events travel back over one multiprocessing queue; the parent drains it
    and alone writes the store. On any failure (or Ctrl-C) the workers are
    terminated, so no orphan keeps training.
    """

    name = "process-pool"

    def __init__(self, workers: int, threads: Optional[int] = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1 (got {workers})")
        self.workers = workers
        self.threads = threads or threads_per_worker(workers)

    def run(self, units, task, on_event):
        if not units:
            return
        # A task that must see a unit's runs together (ASHA waits at each rung for all of a
        # configuration's seeds) gets whole units; splitting them could leave every worker waiting
        # for a seed that is still queued.
        if getattr(task, "needs_whole_units", False):
            pieces, parents = list(units), [unit.unit_id for unit in units]
        else:
            pieces, parents = split_runs(units)
        parent_of = {piece.unit_id: parent for piece, parent in zip(pieces, parents)}
        left = collections.Counter(parents)  # pieces not yet done, per unit
        announced: set[int] = set()
        ctx = _context(task)
        todo, events = ctx.Queue(), ctx.Queue()
        n = min(self.workers, len(pieces))
        for piece in pieces:
            todo.put(piece)
        for _ in range(n):
            todo.put(None)
        procs = [ctx.Process(target=_worker, args=(task, todo, events, self.threads), daemon=True)
                 for _ in range(n)]
        for p in procs:
            p.start()
        try:
            while any(left.values()):
                try:
                    event = events.get(timeout=0.5)
                except _queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"a compare worker process died (exit code {dead[0].exitcode}) "
                                           "before finishing its runs; rerun the same command to resume")
                    continue
                if isinstance(event, _UnitFailed):
                    raise event.error from RuntimeError(f"in a worker process:\n{event.trace}")
                if isinstance(event, EpochEvent):
                    on_event(event)
                    continue
                # The caller sees its own units: one starts with its first piece and is done with its last.
                parent = parent_of[event.unit_id]
                if isinstance(event, UnitStarted) and parent not in announced:
                    announced.add(parent)
                    on_event(UnitStarted(parent))
                elif isinstance(event, UnitDone):
                    left[parent] -= 1
                    if not left[parent]:
                        on_event(UnitDone(parent))
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join()
            for q in (todo, events):
                q.close()
                q.cancel_join_thread()


AUTO = "auto"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """The usable cores shared out among ``workers`` processes, at least 1 each."""
    return max(1, usable_cores() // workers)


def resolve_workers(workers: Union[int, str], runs: int) -> int:
    """The worker count for ``runs`` runs: ``'auto'`` gives one process per usable core but no more than
    there are runs (1, i.e. training in this process, for a single run or a single core); a number is
    kept as given.

    Why processes and not threads: at batch 128 most of a step is small operations that gain little from a
    second thread, so whole runs side by side, one thread each, train faster (bench/results/training.md).
    """
    if workers == AUTO:
        return max(1, min(usable_cores(), runs))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or {AUTO!r} (got {workers!r})")
    return workers


BACKENDS = ("local", "ray")


def make_executor(workers: int = 1, backend: str = "local", address: Optional[str] = None, *,
                  threads: Optional[int] = None) -> Executor:
    """The one executor factory (``compare`` and ``tune`` both build theirs here).

    Args:
        workers: runs side by side: 1 trains in this process, N in N worker
            processes (local) or on N Ray CPUs (a private local Ray).
        backend: ``"local"`` (this machine's processes) or ``"ray"`` (Ray
            tasks; pip install 'actlab[ray]').
        address: with ``backend="ray"``: ``"auto"`` or ``"HOST:PORT"`` joins a
            running cluster instead of starting a private Ray.
        threads: torch threads per pool worker (default: the cores shared out).

    Returns:
        an :class:`Executor`; close it when done if it has ``close()`` (Ray).

    Examples:
        >>> make_executor(1).name, make_executor(2).name
        ('in-process', 'process-pool')
    """
    if backend == "local":
        if address:
            raise ValueError("--address names a Ray cluster; it needs --backend ray")
        workers = resolve_workers(workers, 1 << 30) if workers == AUTO else workers
        return InProcessExecutor() if workers <= 1 else ProcessPoolExecutor(workers, threads)
    if backend == "ray":
        from .ray_backend import RayExecutor, require_ray

        require_ray()
        return RayExecutor(address, num_cpus=None if address or workers == AUTO else workers)
    raise ValueError(f"--backend {backend!r} is unknown; expected one of {', '.join(BACKENDS)}")
