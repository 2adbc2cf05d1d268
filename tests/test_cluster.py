"""GLASSBOX_RAY_ADDRESS read strictly; a cluster that does not answer is reported, not waited on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.cluster import (
    ClusterUnavailable,
    job_cpus_from_env,
    parse_address,
    probe,
    ray_address_from_env,
    runtime_env,
)
from core.training.executors import LocalExecutor
from core.training.jobs import JobManager, executor_from_env


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_address_comes_from_the_environment(monkeypatch):
    assert ray_address_from_env() is None  # tests/conftest.py unsets it
    for blank in ("", "   "):
        monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", blank)
        assert ray_address_from_env() is None
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", " 10.0.0.5:6379 ")
    assert ray_address_from_env() == "10.0.0.5:6379"


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("10.0.0.5:6379", ("10.0.0.5", 6379)),
        ("ray://head.local:6380", ("head.local", 6380)),
        ("[::1]:6379", ("::1", 6379)),
    ],
)
def test_addresses_parse(address, parsed):
    assert parse_address(address) == parsed


@pytest.mark.parametrize(
    "bad", ["auto", "10.0.0.5", ":6379", "head:", "head:port", "h:0", "h:70000"]
)
def test_malformed_addresses_say_what_is_expected(bad):
    with pytest.raises(ClusterUnavailable, match="is not HOST:PORT"):
        parse_address(bad)


def test_a_head_that_does_not_answer_is_reported_at_once(closed_port):
    with pytest.raises(ClusterUnavailable, match=f"127.0.0.1:{closed_port}.*does not answer"):
        probe(f"127.0.0.1:{closed_port}", timeout_s=2.0)


def test_job_cpus_from_the_environment(monkeypatch):
    monkeypatch.delenv("GLASSBOX_RAY_JOB_CPUS", raising=False)
    assert job_cpus_from_env() == 1
    monkeypatch.setenv("GLASSBOX_RAY_JOB_CPUS", "4")
    assert job_cpus_from_env() == 4
    for bad in ("0", "65", "1.5", "all"):
        monkeypatch.setenv("GLASSBOX_RAY_JOB_CPUS", bad)
        with pytest.raises(ClusterUnavailable, match="GLASSBOX_RAY_JOB_CPUS"):
            job_cpus_from_env()


def test_workers_import_this_checkout():
    env = runtime_env({"GLASSBOX_HOME": "/shared/glassbox"})
    assert env["env_vars"]["GLASSBOX_HOME"] == "/shared/glassbox"
    assert (Path(env["env_vars"]["PYTHONPATH"]) / "core" / "cluster.py").is_file()


def test_without_an_address_jobs_run_in_local_processes():
    executor, notice = executor_from_env({})
    assert isinstance(executor, LocalExecutor) and notice is None


def test_an_unreachable_cluster_leaves_jobs_local_with_a_notice(closed_port, monkeypatch):
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", f"127.0.0.1:{closed_port}")
    manager = JobManager(None, background=False)
    assert isinstance(manager.executor, LocalExecutor)
    assert f"127.0.0.1:{closed_port}" in manager.notice and "does not answer" in manager.notice
    assert "Jobs run on this server" in manager.notice
    monkeypatch.setenv("GLASSBOX_RAY_ADDRESS", "not an address")
    assert "is not HOST:PORT" in JobManager(None, background=False).notice
