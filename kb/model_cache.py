"""The embedding model on OpenVINO, fp32 and int8, exported once per machine and cached; the only
module that imports optimum-intel, OpenVINO or NNCF.

The export is a sentence-transformers folder that sentence-transformers' own backend="openvino"
loads: the model's configuration and tokenizer files, openvino/openvino_model.xml (fp32, exported
by optimum-intel from the model's own weights) and openvino/openvino_model_qint8_quantized.xml,
the same model statically quantized to int8 by NNCF (optimum-intel's OVQuantizer). Static
quantization fixes the activations' ranges from real inputs: kb/calibration/news.jsonl.gz, a few
hundred news passages and sentences that ship with kb (scripts/calibration.py builds it), so
nothing is downloaded.

The folder lives in ~/.cache/kb/openvino/<key> ($XDG_CACHE_HOME respected), the key a hash of
the model's weights, the calibration text and the recipe version, so a reinstalled environment
finds it again. It is built in a temporary folder and renamed into place under a file lock: a
reader sees no folder or a whole one. Its manifest lists every file's size and sha256; a folder
that does not match (a partial copy, a truncated file) is moved aside and built again.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import EmbedderError

logger = logging.getLogger(__name__)

#: Files (in the cached folder) sentence-transformers loads for each OpenVINO backend.
OPENVINO_FILES = {
    "openvino": "openvino/openvino_model.xml",
    "openvino-int8": "openvino/openvino_model_qint8_quantized.xml",
}
#: Bumped when the export recipe changes, so folders made by an older recipe are rebuilt.
_VERSION = "1"
_MANIFEST = "kb-export.json"
#: Model files the OpenVINO folder does not need (the weights live on in the .bin files).
_SKIP = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack", "onnx", "openvino", ".*")


def calibration_texts() -> list[str]:
    """The texts the int8 model is calibrated on (kb/calibration/news.jsonl.gz)."""
    data = resources.files("kb").joinpath("calibration/news.jsonl.gz").read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return [str(json.loads(line)["text"]) for line in lines if line.strip()]


def cache_root() -> Path:
    """Where exported models are kept: ~/.cache/kb/openvino, or under $XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kb" / "openvino"


def openvino_folder(directory: Path, *, calibration: Sequence[str] | None = None) -> Path:
    """The cached OpenVINO folder for the sentence-transformers model in directory, exported
    and quantized first if no intact one exists (a few minutes on 2 cores, once)."""
    _no_telemetry()
    texts = list(calibration) if calibration is not None else calibration_texts()
    root = cache_root()
    folder = root / _cache_key(directory, texts)
    if intact(folder):
        return folder
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _file_lock(root / f".{folder.name}.lock"):
            if not intact(folder):  # another process may have built it meanwhile
                _discard(folder)
                logger.info("exporting %s to OpenVINO fp32 and int8, once", directory)
                _build(directory, folder, texts)
    except EmbedderError:
        raise
    except Exception as exc:
        raise EmbedderError(
            f"cannot export {directory.name} to OpenVINO in {root} ({type(exc).__name__}: "
            f"{exc}); KB_BACKEND=torch runs it without an export"
        ) from exc
    return folder


def intact(folder: Path) -> bool:
    """Whether folder holds every file its manifest lists, with the listed size and hash."""
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, list[Any]] = manifest["files"]
        return manifest.get("version") == _VERSION and all(
            (folder / name).stat().st_size == size and _sha256(folder / name) == digest
            for name, (size, digest) in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _cache_key(directory: Path, texts: Sequence[str]) -> str:
    """A hash of what the export depends on: the model's weights and config, the calibration
    text and the recipe version (not the folder's path: a new environment reuses the cache)."""
    digest = hashlib.sha256(f"kb-openvino-v{_VERSION}\n".encode())
    for path in sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.bin")):
        digest.update(path.name.encode() + bytes.fromhex(_sha256(path)))
    for name in ("config.json", "modules.json"):
        if (directory / name).exists():
            digest.update((directory / name).read_bytes())
    digest.update("\n".join(texts).encode("utf-8"))
    return digest.hexdigest()[:20]


def _build(directory: Path, folder: Path, texts: Sequence[str]) -> None:
    """Export into a temporary sibling of folder, write the manifest, then rename it into place."""
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        shutil.copytree(
            directory, staging, ignore=shutil.ignore_patterns(*_SKIP), dirs_exist_ok=True
        )
        _export(directory, staging / "openvino", texts)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "version": _VERSION,
            "model": directory.name,
            "files": {
                p.relative_to(staging).as_posix(): [p.stat().st_size, _sha256(p)] for p in files
            },
        }
        (staging / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.rename(staging, folder)  # atomic: readers see no folder or the whole folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export(directory: Path, target: Path, texts: Sequence[str]) -> None:
    """optimum-intel's export to OpenVINO (fp32), then NNCF's static int8 quantization of it,
    calibrated on texts tokenized as sentence-transformers tokenizes them (window 256)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import nncf
    from optimum.intel import (
        OVConfig,
        OVModelForFeatureExtraction,
        OVQuantizationConfig,
        OVQuantizer,
    )
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")  # tracer warnings about the model's Python branches
        model = OVModelForFeatureExtraction.from_pretrained(
            str(directory), export=True, compile=False, local_files_only=True
        )
        model.save_pretrained(str(target))
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        inputs = {port.get_any_name() for port in model.model.inputs}
        samples = [_features(tokenizer, text, inputs) for text in texts]
        config = OVQuantizationConfig(num_samples=len(samples))
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            OVQuantizer.from_pretrained(model).quantize(
                calibration_dataset=nncf.Dataset(samples),
                save_directory=tmp,
                ov_config=OVConfig(quantization_config=config),
            )
            for suffix in (".xml", ".bin"):
                name = Path(OPENVINO_FILES["openvino-int8"]).with_suffix(suffix).name
                os.replace(Path(tmp) / f"openvino_model{suffix}", target / name)


def _features(tokenizer: Any, text: str, inputs: set[str]) -> dict[str, Any]:
    encoded = tokenizer(text, truncation=True, max_length=256, return_tensors="np")
    return {k: np.asarray(v, dtype=np.int64) for k, v in encoded.items() if k in inputs}


def _no_telemetry() -> None:
    """OpenVINO's model converter and NNCF send usage statistics to Google Analytics unless a
    consent file in ~/intel says no, and opting out sends an event of its own. A self-hosted
    tool sends nothing: their telemetry package is made unimportable in this process, so both
    fall back to their built-in stubs (unless something imported it first)."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF draws progress bars on stdout and optimum-intel logs each step; a library is quiet
    (stdout may be a script's JSON)."""
    loggers = [logging.getLogger(name) for name in ("nncf", "optimum", "transformers")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _discard(folder: Path) -> None:
    """Move a broken folder aside, then delete it (a process that loaded it keeps its files)."""
    if folder.exists():
        logger.warning("the cached OpenVINO model in %s is incomplete; exporting it again", folder)
        aside = folder.with_name(f".{folder.name}-broken-{os.getpid()}")
        os.rename(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
