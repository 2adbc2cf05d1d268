"""The Ray cluster that runs training jobs and pool sweeps when ``GLASSBOX_RAY_ADDRESS`` is set.

Glassbox runs its heavy work on this machine by default: training jobs in local worker
processes (``core.training.jobs``), pool sweeps in a process pool (``core.pool.runner``).
With ``GLASSBOX_RAY_ADDRESS=HOST:PORT`` (the GCS address ``ray start --head`` prints, e.g.
``10.0.0.5:6379``) both are submitted to that Ray cluster instead: Ray places each task on a
node with free CPUs and queues the rest, so no scheduler of our own decides where work
runs. This module is the one place that talks to Ray about the connection itself:

* :func:`connect` joins this process to the cluster once (Ray keeps one connection per
  process, so later calls return at once). A TCP probe with a short timeout runs first, so
  a cluster that is down costs a page seconds, not the minute ``ray.init`` would wait, and
  :class:`ClusterUnavailable` says what to check;
* :func:`probe` is the same TCP check, for work about to be sent to a connected cluster
  (whose head may have gone since);
* :func:`job_cpus_from_env` is the CPUs each training job asks Ray for
  (``GLASSBOX_RAY_JOB_CPUS``, default 1): a job runs once the cluster has them free.

Ray is an optional dependency (``requirements-ray.txt``): it is imported only here and in the
executors, only once an address is set. Nodes must run the same Ray and Python versions as
the server, hold the same Glassbox checkout at the same path and see ``GLASSBOX_HOME``
(checkpoints, uploaded corpora) and the run store at the same paths or URL; README.md,
"A room's worth of Glassbox", says how.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path

RAY_ADDRESS_ENV = "GLASSBOX_RAY_ADDRESS"
JOB_CPUS_ENV = "GLASSBOX_RAY_JOB_CPUS"
PROBE_TIMEOUT_S = 3.0  # a head that does not accept a TCP connection by then is "down"
NAMESPACE = "glassbox"  # Ray namespace of every replica's tasks
# Ray ends a driver process whose head has been gone for 60 s (gcs_rpc_server_reconnect_
# timeout_s): for the Streamlit server that would be the whole app. A driver of ours waits
# for the head as long as it lives; meanwhile its jobs on the dead node come back as lost
# (interrupted runs) and new work is refused by the probe below.
HEAD_DOWN_TOLERANCE_S = 10**8

CHECKOUT = Path(__file__).resolve().parents[1]  # the Glassbox checkout (same path on every node)
_CONNECT_LOCK = threading.Lock()  # one ray.init per process, whichever thread asks first


class ClusterUnavailable(RuntimeError):
    """The Ray cluster named by ``GLASSBOX_RAY_ADDRESS`` cannot be used, and what to check."""


def ray_address_from_env() -> str | None:
    """``GLASSBOX_RAY_ADDRESS`` stripped, or None when unset or empty (work stays local)."""
    raw = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    return raw or None


def job_cpus_from_env(default: int = 1) -> int:
    """``GLASSBOX_RAY_JOB_CPUS``: CPUs Ray reserves for each training job (1 to 64)."""
    raw = os.environ.get(JOB_CPUS_ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise ClusterUnavailable(
            f"{JOB_CPUS_ENV} must be a whole number from 1 to 64, got {raw[:20]!r}"
        )
    return int(raw)


def parse_address(address: str) -> tuple[str, int]:
    """``"10.0.0.5:6379"`` -> ``("10.0.0.5", 6379)``; ClusterUnavailable if malformed.

    Also accepts ``ray://`` in front (the form Ray's docs use for remote drivers): the host
    and port are those of the head's GCS either way.
    """
    text = address.strip().removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterUnavailable(
            f"{RAY_ADDRESS_ENV}={address[:80]!r} is not HOST:PORT (the address `ray start "
            "--head` prints, e.g. 10.0.0.5:6379)"
        )
    return host.strip("[]"), int(port)


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise ClusterUnavailable unless the head accepts a TCP connection within ``timeout_s``."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ClusterUnavailable(
            f"the Ray cluster at {host}:{port} ({RAY_ADDRESS_ENV}) does not answer ({reason}): "
            f"check that its head runs (`ray start --head --port {port}`) and that this "
            "machine can reach it"
        ) from None


def connected_address() -> str | None:
    """The GCS address this process is connected to, or None (not connected, or no Ray)."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().gcs_address


def connect(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Join this process to the Ray cluster at ``address`` (once); the GCS address in use.

    A process already connected (the first caller's address, or a test's local cluster)
    keeps its connection once the head answers. Raises :class:`ClusterUnavailable` when Ray is not installed, the
    address is malformed, or the head does not answer.
    """
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            f"{RAY_ADDRESS_ENV} is set but Ray is not installed here: "
            "pip install -r requirements-ray.txt (the same Ray version as the cluster)"
        ) from None
    probe(address, timeout_s)  # first, so a head that went down is reported as such
    with _CONNECT_LOCK:
        if ray.is_initialized():
            return ray.get_runtime_context().gcs_address
        os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(HEAD_DOWN_TOLERANCE_S))
        try:
            ray.init(
                address=address.strip().removeprefix("ray://"),
                namespace=NAMESPACE,
                log_to_driver=False,  # a job's output goes to its own log, not the server's
                configure_logging=False,
            )
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            raise ClusterUnavailable(_join_failure(address, exc)) from None
        return ray.get_runtime_context().gcs_address


def _join_failure(address: str, exc: BaseException) -> str:
    """Why ``ray.init`` failed, from the error and its cause (Ray wraps the real reason)."""
    errors = [str(e) for e in (exc, exc.__cause__) if e is not None and str(e).strip()]
    text = f"could not join the Ray cluster at {address[:80]} ({RAY_ADDRESS_ENV}): "
    text += "; ".join(
        e.strip().splitlines()[0].split(" Last connection error")[0][:200] for e in errors
    )
    if "authentication" in " ".join(errors).lower():
        text += (
            ". The cluster uses token authentication: set RAY_AUTH_MODE=token here and give "
            "this machine the cluster's token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token)"
        )
    return text


def cluster_cpus() -> float:
    """CPUs the connected cluster has in total (0 when not connected)."""
    if connected_address() is None:
        return 0.0
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))


def runtime_env(env_vars: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """A task's Ray ``runtime_env``: ``env_vars`` plus ``PYTHONPATH`` = this checkout, so a
    worker on any node imports the same ``core`` package as the server (the worker is
    started with these variables)."""
    return {"env_vars": {**(env_vars or {}), "PYTHONPATH": str(CHECKOUT)}}
