"""Settings from KB_* variables: defaults, strict parsing, overrides."""

import dataclasses
from pathlib import Path

import pytest

from kb import ConfigError, Settings
from kb.config import DEFAULT_MODEL, parse_bool


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.index_dir == Path("index_store")
    assert settings.model == DEFAULT_MODEL == "all-MiniLM-L6-v2"
    assert settings.allow_private_hosts is False
    assert settings.chroma_url is None


def test_reads_kb_variables() -> None:
    settings = Settings.from_env(
        {
            "KB_INDEX_DIR": "/data/kb",
            "KB_MODEL": "/models/mini",
            "KB_ALLOW_PRIVATE_HOSTS": "yes",
            "KB_CHROMA_URL": "http://chroma:8000",
            "KB_CONNECT_TIMEOUT": "1.5",
            "KB_READ_TIMEOUT": "7",
        }
    )
    assert settings.index_dir == Path("/data/kb")
    assert settings.model == "/models/mini"
    assert settings.allow_private_hosts is True
    assert settings.chroma_url == "http://chroma:8000"
    assert settings.connect_timeout == 1.5
    assert settings.read_timeout == 7.0


def test_reads_os_environ_by_default(isolated_env: Path) -> None:
    assert Settings.from_env().index_dir == isolated_env


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), (" on ", True), ("0", False), ("no", False), ("", False)],
)
def test_parse_bool_accepts_the_usual_spellings(value: str, expected: bool) -> None:
    assert parse_bool("KB_X", {"KB_X": value}) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "yess"])
def test_bad_allow_private_hosts_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="KB_ALLOW_PRIVATE_HOSTS"):
        Settings.from_env({"KB_ALLOW_PRIVATE_HOSTS": value})


@pytest.mark.parametrize("value", ["soon", "0", "-3"])
def test_bad_timeout_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="KB_READ_TIMEOUT"):
        Settings.from_env({"KB_READ_TIMEOUT": value})


def test_overrides_win_and_none_overrides_are_ignored() -> None:
    settings = Settings.from_env(
        {"KB_MODEL": "from-env", "KB_INDEX_DIR": "/env"}, model="override", index_dir=None
    )
    assert settings.model == "override"
    assert settings.index_dir == Path("/env")


def test_settings_are_frozen_and_paths_normalised() -> None:
    settings = Settings(index_dir="some/dir")  # type: ignore[arg-type]
    assert settings.index_dir == Path("some/dir")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'model'"):
        settings.model = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("value", "expected"), [("usem3", "usem3"), ("off", ""), ("0", "")])
def test_the_multilingual_setting_names_the_model_in_the_index(value: str, expected: str) -> None:
    settings = Settings.from_env({"KB_MULTILINGUAL": value})
    assert settings.multilingual == expected
    joined = "all-MiniLM-L6-v2+use-multilingual-v3"
    assert settings.model_name == (joined if expected else "all-MiniLM-L6-v2")


def test_an_unknown_multilingual_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="KB_MULTILINGUAL must be one of usem3 or off"):
        Settings.from_env({"KB_MULTILINGUAL": "labse"})
