"""The OpenVINO export cache: built once, reused, rebuilt when broken, never half-visible.

A fake exporter stands in for optimum-intel and NNCF here (fast and deterministic); the real
export is exercised in tests/test_embed.py."""

import gzip
import json
import threading
import time
from pathlib import Path

import pytest

import kb.model_cache
from kb import EmbedderError
from kb.model_cache import OPENVINO_FILES, cache_root, calibration_texts, intact, openvino_folder

TEXTS = ["Mexico's export manufacturing program.", "El puerto movió más contenedores."]


class FakeExport:
    """Writes the two OpenVINO models' files the way the real export names them; counts calls."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls = 0
        self.delay, self.fail = delay, fail

    def __call__(self, directory: Path, target: Path, texts: list[str]) -> None:
        self.calls += 1
        time.sleep(self.delay)
        target.mkdir(parents=True, exist_ok=True)
        (target / "openvino_model.xml").write_text("<net fp32/>")
        if self.fail:
            raise RuntimeError("converter crashed")
        for name in OPENVINO_FILES.values():
            path = target.parent / name
            path.write_text(f"<net {len(texts)} texts/>")
            path.with_suffix(".bin").write_bytes(b"\x01" * 4096)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A stand-in sentence-transformers folder: config, tokenizer file, weights."""
    directory = tmp_path / "models" / "mini"
    (directory / "1_Pooling").mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "bert"}')
    (directory / "modules.json").write_text("[]")
    (directory / "tokenizer.json").write_text("{}")
    (directory / "1_Pooling" / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"weights" * 100)
    return directory


@pytest.fixture
def export(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeExport:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fake = FakeExport()
    monkeypatch.setattr(kb.model_cache, "_export", fake)
    return fake


def test_the_calibration_text_ships_with_kb_and_is_small() -> None:
    texts = calibration_texts()
    assert 300 <= len(texts) <= 500
    assert any("¿" in t or " el " in t for t in texts)  # Spanish news too
    assert all(t.strip() for t in texts)
    # Short inputs (questions, answer sentences) and whole passages both set the ranges.
    assert sum(len(t) < 200 for t in texts) >= 50
    assert sum(len(t) > 800 for t in texts) >= 150
    data = (Path(kb.model_cache.__file__).parent / "calibration" / "news.jsonl.gz").read_bytes()
    assert len(data) < 300_000
    assert len(gzip.decompress(data).splitlines()) == len(texts)


def test_the_export_is_cached_and_found_again(model_dir: Path, export: FakeExport) -> None:
    folder = openvino_folder(model_dir, calibration=TEXTS)
    assert folder.parent == cache_root()
    assert export.calls == 1
    assert intact(folder)
    for name in OPENVINO_FILES.values():
        assert (folder / name).is_file()
    assert (folder / "tokenizer.json").is_file()  # a sentence-transformers folder of its own
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert not (folder / "model.safetensors").exists()  # the weights live in the export
    assert openvino_folder(model_dir, calibration=TEXTS) == folder
    assert export.calls == 1
    assert [p.name for p in cache_root().iterdir() if not p.name.endswith(".lock")] == [folder.name]


def test_the_cache_follows_the_weights_not_the_path(
    model_dir: Path, export: FakeExport, tmp_path: Path
) -> None:
    """A reinstalled environment (the same model elsewhere) finds the export; new weights or
    another calibration text make a new one."""
    first = openvino_folder(model_dir, calibration=TEXTS)
    moved = tmp_path / "elsewhere" / "mini"
    moved.parent.mkdir()
    model_dir.rename(moved)
    assert openvino_folder(moved, calibration=TEXTS) == first
    assert export.calls == 1
    assert openvino_folder(moved, calibration=TEXTS[:1]) != first
    (moved / "model.safetensors").write_bytes(b"retrained" * 100)
    assert openvino_folder(moved, calibration=TEXTS) != first
    assert export.calls == 3


@pytest.mark.parametrize(
    "damage",
    ["truncated model", "flipped bytes", "missing file", "no manifest", "garbled manifest"],
)
def test_a_broken_cache_is_built_again(model_dir: Path, export: FakeExport, damage: str) -> None:
    folder = openvino_folder(model_dir, calibration=TEXTS)
    model = folder / Path(OPENVINO_FILES["openvino-int8"]).with_suffix(".bin")
    if damage == "truncated model":
        model.write_bytes(model.read_bytes()[:100])
    elif damage == "flipped bytes":
        model.write_bytes(b"\x02" + model.read_bytes()[1:])
    elif damage == "missing file":
        (folder / "tokenizer.json").unlink()
    elif damage == "no manifest":
        (folder / "kb-export.json").unlink()
    else:
        (folder / "kb-export.json").write_text("{not json")
    assert not intact(folder)
    assert openvino_folder(model_dir, calibration=TEXTS) == folder
    assert export.calls == 2
    assert intact(folder)
    assert not [p for p in cache_root().iterdir() if "broken" in p.name]


def test_a_failed_export_leaves_nothing_behind(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, export: FakeExport
) -> None:
    monkeypatch.setattr(kb.model_cache, "_export", FakeExport(fail=True))
    with pytest.raises(EmbedderError, match=r"converter crashed.*KB_BACKEND=torch"):
        openvino_folder(model_dir, calibration=TEXTS)
    assert [p.name for p in cache_root().iterdir() if not p.name.endswith(".lock")] == []


def test_two_loads_at_once_export_once(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The second waits on the lock, then finds the first one's folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    slow = FakeExport(delay=0.5)
    monkeypatch.setattr(kb.model_cache, "_export", slow)
    folders: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: folders.append(openvino_folder(model_dir, calibration=TEXTS))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slow.calls == 1
    assert len(folders) == 2
    assert folders[0] == folders[1]
    assert intact(folders[0])


def test_the_manifest_lists_every_file(model_dir: Path, export: FakeExport) -> None:
    folder = openvino_folder(model_dir, calibration=TEXTS)
    manifest = json.loads((folder / "kb-export.json").read_text())
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"kb-export.json"}
