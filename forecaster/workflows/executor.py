"""Where the trials of a comparison run: here, one after another (``local``), or fanned out on Ray.

A *trial* is one network fitted with one seed on prepared data (a series or a panel) and scored
on it: the unit of work of ``forecast compare``. With ``--executor ray`` each trial is a Ray task
in its own worker process, with its own seed and its own TensorFlow thread budget (the cluster's
CPUs per task, so tasks do not oversubscribe cores); the prepared data is put in Ray's object
store once and shared by every task. A task returns a small record: its scores, training
history and forecast, and the trained model as the bytes of a ``.keras`` file, which the parent
loads (Keras safe mode) only for the seeds it saves. The parent then assembles the leaderboard
and writes the run folder as in the local case, so a run is the same whichever executor made it.

A trial that fails (a diverged fit, a worker that died) is a :class:`Failure` with its reason: the
comparison records it as a row and still completes.

Example:
    >>> specs = [TrialSpec("gru", 42), TrialSpec("lstm", 42)]
    >>> outcomes = run_trials(specs, prep, cfg, executor="ray")  # doctest: +SKIP
    >>> [o.spec.cell for o in outcomes]  # doctest: +SKIP
    ['gru', 'lstm']
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.config import RunConfig
from forecaster.errors import ConfigError, ForecasterError

__all__ = ["EXECUTORS", "RAY_PROBE_SECONDS", "check_ray_address",
           "TrialSpec", "Outcome", "Failure", "ModelBytes", "Call", "run_calls", "run_trials", "portable",
           "materialize", "limit_threads"]

#: ``local``: trials run one after another in this process; ``ray``: one Ray task each.
EXECUTORS = ("local", "ray")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a cell, a seed and a horizon strategy."""

    cell: str
    seed: int
    strategy: str = "direct"


@dataclass
class Outcome:
    """A finished trial: the cell's result (scored per series), the seconds it took."""

    spec: TrialSpec
    result: Any  # results.CellResult
    seconds: float = 0.0


@dataclass(frozen=True)
class Failure:
    """A trial that did not finish, and why (one line)."""

    spec: TrialSpec
    reason: str


@dataclass(frozen=True)
class ModelBytes:
    """A Keras model as the bytes of its ``.keras`` file: what crosses from a Ray worker to the parent."""

    data: bytes

    def load(self) -> Any:
        """The model, loaded with ``safe_mode=True`` (no code runs from the file)."""
        import keras
        import numpy as np

        from forecaster.models.network.cells import custom_objects

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(self.data)
            model = keras.saving.load_model(path, custom_objects=custom_objects(), compile=False, safe_mode=True)
        shape = tuple(d or 1 for d in model.input_shape[1:])
        model(np.zeros((1, *shape), dtype=np.float32), training=False)  # called once, as a fitted model was (ONNX export)
        return model


def _bytes(model: Any) -> ModelBytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return ModelBytes(path.read_bytes())


def portable(result: Any) -> Any:
    """``result`` (a ``CellResult``) with its model as :class:`ModelBytes` (a ``--per-series`` cell's
    ``{series id: model}`` as bytes each) and without the in-memory network (nor its scored row's)."""
    model = result.model
    shipped = {sid: _bytes(m) for sid, m in model.items()} if isinstance(model, dict) else _bytes(model)
    row = dataclasses.replace(result.row, model=None) if result.row is not None else None
    return dataclasses.replace(result, model=shipped, network=None, row=row)


def materialize(result: Any) -> Any:
    """``result`` with Keras models again (loaded from their bytes when they came from a worker)."""
    model = result.model
    if isinstance(model, ModelBytes):
        return dataclasses.replace(result, model=model.load())
    if isinstance(model, dict) and any(isinstance(m, ModelBytes) for m in model.values()):
        return dataclasses.replace(result, model={sid: m.load() if isinstance(m, ModelBytes) else m
                                                  for sid, m in model.items()})
    return result


def limit_threads(threads: int) -> None:
    """TensorFlow's intra-op threads for this process (a Ray worker), set before its first op; later calls
    in a reused worker keep the first setting."""
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:  # the runtime already started in this worker: its first setting stays
        pass


def _trial_cfg(cfg: RunConfig, spec: TrialSpec) -> RunConfig:
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, seed=spec.seed),
                               model=dataclasses.replace(cfg.model, strategy=spec.strategy))  # type: ignore[arg-type]


def train_trial(data: Any, cfg: RunConfig, spec: TrialSpec, progress: Progress | None = None) -> Outcome:
    """Fit and score one trial on prepared ``data`` (one series or many)."""
    from forecaster.workflows.train import train_cell

    t0 = time.perf_counter()
    return Outcome(spec, train_cell(data, _trial_cfg(cfg, spec), spec.cell, progress=progress), time.perf_counter() - t0)


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # a RayTaskError carries the task's own exception
    exc = cause if isinstance(cause, BaseException) else exc
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]


#: Seconds a ``--ray-address`` has to answer, all checks together, before anything else is done. Ray itself
#: would wait for ever on a closed GCS port (2.60: "Failed to connect to GCS", retried, SIGTERM unheeded
#: inside its C++ client) and 31 s with two lines of warnings on a closed Ray Client port.
RAY_PROBE_SECONDS = 3.0


def _ray_target(address: str) -> tuple[str, bool]:
    """The ``host:port`` Ray will really connect to for ``address``, and whether it is a Ray Client
    (``ray://``) address. A GCS address goes through Ray's own canonicalisation (``auto`` read from
    ``RAY_ADDRESS`` or this machine's last ``ray start``; ``127.0.0.1`` and ``localhost`` rewritten to this
    node's interface address), so the probe knocks where Ray would."""
    if address.startswith("ray://"):
        hostport = address[len("ray://"):].rstrip("/")
        return (hostport if hostport.rpartition(":")[2].isdigit() else f"{hostport}:10001"), True
    if "://" in address:
        raise ConfigError(f"--ray-address {address}: expected host:port (a GCS), ray://host:port (Ray Client) or "
                          "auto")
    from ray._private.services import canonicalize_bootstrap_address

    try:
        target = canonicalize_bootstrap_address(address)
    except ConnectionError:  # auto, with nothing recorded
        target = None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"--ray-address {address}: not a Ray address ({_reason(exc)}); expected host:port, "
                          "ray://host:port or auto") from None
    if target is None:
        raise ConfigError(f"--ray-address {address}: no running Ray cluster found on this machine (RAY_ADDRESS is "
                          "unset and no `ray start` here); give the cluster's address, or leave out --ray-address "
                          "to start one here")
    return target, False


def check_ray_address(address: str | None, *, timeout: float = RAY_PROBE_SECONDS) -> None:
    """Refuse, within ``timeout`` seconds, a ``--ray-address`` where no Ray cluster answers.

    Three knocks, one deadline: a TCP connection (a closed port is refused at once), a gRPC
    handshake (a port that is not a gRPC server never completes it) and one Ray call (the GCS's
    ``GetClusterId``, or the Ray Client's ping: a gRPC server that is not Ray answers
    ``UNIMPLEMENTED``). Only then may ``ray.init`` run, whose own retries are unbounded. ``None`` and
    ``local`` (a cluster started here) need no check. Nothing here installs a signal handler: SIGTERM
    ends the process while it waits.

    Raises:
        ConfigError: one line naming the address given, the address probed and what failed.
    """
    if address is None or address == "local":
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("--executor ray: Ray is not installed; pip install 'forecaster[scale]'") from None
    import socket

    target, client = _ray_target(address)
    host, _, port = target.rpartition(":")
    deadline = time.monotonic() + timeout
    probed = target if target == address.removeprefix("ray://") else f"{target} (where Ray connects for it)"

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"--ray-address {address}: no Ray {'Client server' if client else 'cluster'} answers at "
                           f"{probed}: {why}; check the address and that the cluster is up (ray status)")

    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except TimeoutError:
        raise refuse(f"no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise refuse(getattr(exc, "strerror", None) or exc.__class__.__name__) from None
    import grpc

    try:
        from ray._private.grpc_utils import init_grpc_channel

        channel = init_grpc_channel(target)
    except (ImportError, AttributeError, TypeError):  # Ray moved it: a plain channel knocks as well
        channel = grpc.insecure_channel(target)
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=max(0.1, deadline - time.monotonic()))
        except grpc.FutureTimeoutError:
            raise refuse(f"the port accepts connections but does not speak gRPC within {timeout:g} s "
                         "(not a Ray port)") from None
        call = _ray_ping(channel, client)
        if call is not None:
            try:
                call(max(0.1, deadline - time.monotonic()))
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    return  # a Ray that wants credentials: ray.init says what it needs
                what = "not a Ray port" if code == grpc.StatusCode.UNIMPLEMENTED else "no Ray answer"
                raise refuse(f"{what} within {timeout:g} s ({code.name if code else 'gRPC error'})") from None
    finally:
        channel.close()


def _ray_ping(channel: Any, client: bool) -> Callable[[float], Any] | None:
    """One cheap Ray call on ``channel`` (``None`` when this Ray's generated stubs are not where expected)."""
    import importlib

    try:
        if client:  # the Ray Client's own health check (its ping_server)
            pb: Any = importlib.import_module("ray.core.generated.ray_client_pb2")
            stub = importlib.import_module("ray.core.generated.ray_client_pb2_grpc").RayletDriverStub(channel)
            ping = pb.ClusterInfoRequest(type=pb.ClusterInfoType.PING)
            return lambda seconds: stub.ClusterInfo(ping, timeout=seconds)
        pb = importlib.import_module("ray.core.generated.gcs_service_pb2")  # the GCS client's first call
        gcs = importlib.import_module("ray.core.generated.gcs_service_pb2_grpc").NodeInfoGcsServiceStub(channel)
        return lambda seconds: gcs.GetClusterId(pb.GetClusterIdRequest(), timeout=seconds)
    except (ImportError, AttributeError):
        return None


def _ray(address: str | None) -> tuple[Any, bool]:
    """The ``ray`` module, initialised (``address``: an existing cluster, checked first by
    :func:`check_ray_address`; ``None``: a local one).

    Returns the module and whether this call started it (and so shuts it down after).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray: Ray is not installed; pip install 'forecaster[scale]'") from None
    if ray.is_initialized():
        return ray, False
    import logging

    check_ray_address(address)
    try:
        # no address: always a new local instance ("local"), never a stale one from /tmp/ray/ray_current_cluster
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--ray-address {address}: cannot connect to a Ray cluster ({_reason(exc)})") from None
    return ray, True


@dataclass(frozen=True)
class Call:
    """One task: ``fn(shared[key], *args)`` (``key`` names the shared data it reads), labelled for progress
    lines; ``spec`` is what a :class:`Failure` reports."""

    label: str
    spec: Any
    args: tuple[Any, ...] = ()
    key: int = 0


def _in_worker(fn: Callable[..., Any], data: Any, args: tuple[Any, ...], threads: int) -> Any:
    os.environ["FORECASTER_NO_TENSORBOARD"] = "1"  # a worker's disk may not be the parent's models/
    limit_threads(threads)
    return fn(data, *args)


def run_calls(fn: Callable[..., Any], calls: Sequence[Call], shared: Sequence[Any], *, executor: str = "local",
              address: str | None = None, progress: Progress | None = None) -> list[Any]:
    """``fn(shared[c.key], *c.args)`` for every call, here in order or as Ray tasks; a call that raises is a
    :class:`Failure`. Results come back in the order of ``calls``.

    ``fn`` must be importable by a Ray worker (a module-level function) and return something
    picklable. Each ``shared`` item is put in Ray's object store once, whatever the number of
    calls that read it.

    Raises:
        ConfigError: an unknown executor, Ray missing, or a cluster that cannot be reached.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    if executor == "local":
        out: list[Any] = []
        for k, call in enumerate(calls):
            say(f"[{k + 1}/{len(calls)}] {call.label} (elapsed {time.perf_counter() - started:.0f}s)")
            try:
                out.append(fn(shared[call.key], *call.args))
            except ForecasterError as exc:
                say(f"  {call.label} failed: {_reason(exc)}")
                out.append(Failure(call.spec, _reason(exc)))
        return out
    ray, started_here = _ray(address)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        largest = max([int(n.get("Resources", {}).get("CPU", 1)) for n in ray.nodes() if n.get("Alive")] or [1])
        # CPUs (and TensorFlow threads) per task: the cluster shared by the tasks, never more than a node has
        threads = max(1, min(cpus // max(1, len(calls)), largest))
        remote = ray.remote(num_cpus=threads, max_retries=0)(_in_worker)
        refs = [ray.put(item) for item in shared]
        say(f"ray: {len(calls)} tasks on {cpus} CPU(s), {threads} TensorFlow thread(s) each")
        futures = [remote.remote(fn, refs[c.key], c.args, threads) for c in calls]
        index = {f: k for k, f in enumerate(futures)}
        results: list[Any] = [None] * len(calls)
        finished, pending = 0, list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            k = index[done[0]]
            finished += 1
            try:
                results[k] = ray.get(done[0])
                say(f"[{finished}/{len(calls)}] {calls[k].label} done (elapsed {time.perf_counter() - started:.0f}s)")
            except Exception as exc:  # a RayTaskError (the task raised) or a lost worker
                results[k] = Failure(calls[k].spec, _reason(exc))
                say(f"  {calls[k].label} failed: {_reason(exc)}")
        return results
    finally:
        if started_here:
            ray.shutdown()


def _trial_task(data: Any, cfg: RunConfig, spec: TrialSpec, ship: bool) -> Outcome:
    outcome = train_trial(data, cfg, spec)
    if ship:  # from a Ray worker: the model as bytes
        outcome.result = portable(outcome.result)
    return outcome


def run_trials(specs: Sequence[TrialSpec], data: Any, cfg: RunConfig, *, executor: str = "local",
               address: str | None = None, progress: Progress | None = None) -> list[Outcome | Failure]:
    """Run every trial and return its :class:`Outcome` or :class:`Failure`, in the order of ``specs``.

    Args:
        specs: the trials.
        data: the prepared series or panel every trial fits on.
        cfg: the run's configuration (each trial sets its own seed and strategy).
        executor: ``local`` or ``ray``.
        address: a Ray cluster to join (``ray://host:10001``, ``auto``); ``None`` starts one here.
        progress: receives a line as each trial starts (local) or ends (Ray).

    Raises:
        ConfigError: an unknown executor, Ray missing, or a cluster that cannot be reached.
    """
    if executor == "local":  # per-epoch progress lines too
        calls = [Call(f"{s.cell} {s.strategy} seed {s.seed}", s, (cfg, s, progress)) for s in specs]
        return run_calls(train_trial, calls, [data], executor="local", progress=progress)
    calls = [Call(f"{s.cell} {s.strategy} seed {s.seed}", s, (cfg, s, True)) for s in specs]
    return run_calls(_trial_task, calls, [data], executor=executor, address=address, progress=progress)
