"""Shared fixtures: a migrated run store on SQLite and, when available, PostgreSQL.

The suite runs on two pytest-xdist workers (``-n 2 --dist loadgroup`` in pyproject.toml;
``-n 0`` runs it in one process): see ``pytest_configure`` and
``pytest_collection_modifyitems`` for what each worker gets to itself.

PostgreSQL tests run when ``GLASSBOX_TEST_POSTGRES_URL`` is set (``.ci/run`` starts a
throwaway server and sets it). Ray tests use the cluster at ``GLASSBOX_TEST_RAY_ADDRESS``
(``.ci/run`` starts a head and sets it), or else start a local one once per session. With
``GLASSBOX_REQUIRE_SERVICES=1`` (set by CI) a missing server or Ray fails the test instead of
skipping it.
"""

from __future__ import annotations

import os

# Before anything imports torch: OpenMP's busy-waiting threads slow every small product on
# a shared machine (core/__init__.py sets the same for the command lines).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
from sqlalchemy import text

from core.store import Base, make_engine, upgrade_database
from core.store.db import DatabaseUnavailable

POSTGRES_ENV = "GLASSBOX_TEST_POSTGRES_URL"
RAY_ENV = "GLASSBOX_TEST_RAY_ADDRESS"


def services_required() -> bool:
    return os.environ.get("GLASSBOX_REQUIRE_SERVICES") == "1"


def missing_service(message: str) -> None:
    """Skip on a developer machine, fail in CI."""
    if services_required():
        pytest.fail(f"{message} (GLASSBOX_REQUIRE_SERVICES=1, so this is an error)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the developer's ~/.glassbox: each test gets its own home and SQLite."""
    home = tmp_path / "glassbox-home"
    monkeypatch.setenv("GLASSBOX_HOME", str(home))
    monkeypatch.setenv("GLASSBOX_DATABASE_URL", f"sqlite:///{home / 'glassbox.db'}")
    monkeypatch.delenv("GLASSBOX_RAY_ADDRESS", raising=False)  # jobs stay local unless asked
    yield


def _reset_postgres(url: str):
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    except Exception as exc:
        engine.dispose()
        missing_service(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {exc}")
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A database URL with an empty, migrated schema: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(url)
    else:
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            missing_service(
                f'PostgreSQL tests need {POSTGRES_ENV}; run `eval "$(bash '
                ".ci/start-postgres.sh)\"` (needs Debian's postgresql package) to enable them"
            )
        engine = _reset_postgres(url)
    try:
        upgrade_database(engine)
    except DatabaseUnavailable as exc:
        missing_service(str(exc))
    engine.dispose()
    return url


@pytest.fixture
def session_factory(db_url):
    """A sessionmaker over a freshly migrated database (``with session_factory.begin()``)."""
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(db_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture(scope="session")
def ray_address():
    """The GCS address of a Ray cluster this process is connected to, for the Ray tests.

    ``GLASSBOX_TEST_RAY_ADDRESS`` (CI's ``ray start --head``) when set; otherwise a local
    cluster of 2 CPUs started here once for the whole session (Ray takes seconds to start)
    and shut down at its end.
    """
    try:
        import ray
    except ImportError:
        missing_service("Ray tests need Ray: pip install -r requirements-ray.txt")
    from core.cluster import ClusterUnavailable, connect

    address = os.environ.get(RAY_ENV, "").strip()
    if address:
        try:
            yield connect(address)
        except ClusterUnavailable as exc:
            missing_service(f"{RAY_ENV}: {exc}")
    else:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            namespace="glassbox-tests",
        )
        yield ray.get_runtime_context().gcs_address
    ray.shutdown()


SMOLLM2_FIXTURES = {"smollm2_gguf", "smollm2_weights", "smollm2_model", "smollm2_reference"}


def pytest_configure(config):
    """Under pytest-xdist (``-n 2`` in pyproject.toml) each worker gets its own PostgreSQL
    database, ``<database>_gw0`` and ``<database>_gw1``, created on the test server when
    missing: the tests drop and recreate every table of the database they use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get(POSTGRES_ENV)
    if not worker or not url:
        return
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        return  # unreachable: the tests that need it say so (skip, or fail in CI)
    finally:
        engine.dispose()
    os.environ[POSTGRES_ENV] = base.set(database=name).render_as_string(hide_password=False)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """Every browser test is in the slow lane, whichever file it is in.

    Under pytest-xdist (``--dist loadgroup``) a worker runs whole groups: the tests of one
    file together (its module fixtures are set up once), every test that reads the real
    SmolLM2 on one worker (its session fixtures load once), every Ray test on one worker
    (one driver on the cluster at a time).
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER")
    for item in items:
        if item.get_closest_marker("e2e") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)
        if workers:
            used = set(item.fixturenames)
            if "ray_address" in used:
                group = "ray"
            elif used & SMOLLM2_FIXTURES:
                group = "smollm2"
            else:
                group = item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))


# ---------------------------------------------------------------- the real SmolLM2, once
@pytest.fixture(scope="session")
def smollm2_gguf():
    """SmolLM2's GGUF file opened once (its metadata is 49,152 tokens and their merges:
    seconds to read). Read-only for the tests."""
    from tests.model.smollm2 import SMOLLM2_GGUF, require_smollm2

    require_smollm2()
    from core.model.gguf import open_gguf

    return open_gguf(SMOLLM2_GGUF)


@pytest.fixture(scope="session")
def _smollm2_read(tmp_path_factory):
    """SmolLM2 read from its GGUF file, its weights cache written on the way: the only
    dequantization of the file in a test session. Yields the cache's folder and the Llama.

    The cache is read-only for the tests: its file is made read-only, and its size and
    modification time are checked when the session ends.
    """
    from tests.model.smollm2 import SMOLLM2_GGUF, require_smollm2

    require_smollm2()
    from core.model.llama_gguf import read_llama_gguf

    folder = tmp_path_factory.mktemp("smollm2-weights")
    model, _ = read_llama_gguf(SMOLLM2_GGUF, cache_dir=folder)
    (cached,) = folder.glob("*.safetensors")
    cached.chmod(0o444)
    before = cached.stat()
    yield folder, model
    after = cached.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns), (
        "a test rewrote the shared SmolLM2 weights cache"
    )


@pytest.fixture(scope="session")
def smollm2_weights(_smollm2_read):
    """A folder with SmolLM2's dequantized weights in ``core.model.llama_gguf``'s cache
    format (``tests.model.smollm2.share_weights_cache`` links an app's home to it)."""
    return _smollm2_read[0]


@pytest.fixture(scope="session")
def smollm2_model(_smollm2_read):
    """SmolLM2 as Glassbox's Llama (eval, float32), shared read-only by the whole session.

    A test that needs to change it works on a copy (``copy.deepcopy``); one that changed the
    shared weights makes the session fail when it ends.
    """
    from tests.model.smollm2 import fingerprint

    model = _smollm2_read[1]
    before = fingerprint(model)
    yield model
    assert fingerprint(model) == before, "a test changed the shared SmolLM2 model's weights"


@pytest.fixture(scope="session")
def transformers_reads_gguf_once():
    """A context manager under which transformers' GGUF loader parses each file once.

    transformers opens a GGUF afresh for the config, again for the weights and again for a
    tokenizer (``gguf.GGUFReader`` parses SmolLM2's 49,152 tokens and merges each time), and
    rebuilds gguf's tensor-name table for every one of the model's ~400 modules: about 12 of
    its 15 s. Inside the context each reader (by path) and each table is built once per
    session and reused; the loader's code, its dequantization and its result are unchanged.
    Both are read-only after they are built; nothing outside the context is patched.
    """
    import functools
    from contextlib import contextmanager
    from pathlib import Path

    import gguf

    real_reader, real_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict = {}
    name_map = functools.lru_cache(maxsize=None)(real_map)

    def reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = real_reader(path, mode)
        return readers[key]

    @contextmanager
    def once():
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gguf, "GGUFReader", reader)
            patch.setattr(gguf, "get_tensor_name_map", name_map)
            yield

    return once


@pytest.fixture(scope="session")
def smollm2_reference(transformers_reads_gguf_once):
    """transformers' own model from the same GGUF (its loader, its eager attention, so the
    attention maps can be read too): the independent reference, loaded once per session."""
    from tests.model.smollm2 import SMOLLM2_GGUF, fingerprint, require_smollm2

    require_smollm2()
    import torch
    from transformers import AutoModelForCausalLM

    with transformers_reads_gguf_once():
        reference = AutoModelForCausalLM.from_pretrained(
            SMOLLM2_GGUF.parent,
            gguf_file=SMOLLM2_GGUF.name,
            dtype=torch.float32,
            attn_implementation="eager",
        ).eval()
    before = fingerprint(reference)
    yield reference
    assert fingerprint(reference) == before, "a test changed the shared reference's weights"
