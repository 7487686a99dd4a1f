"""Settings: every key documented, bad keys and values fail at start with the key named."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import (
    SECTIONS,
    ConfigError,
    load_settings,
    platform_data_dir,
    settings_from_dict,
)

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_loads_and_documents_every_key() -> None:
    example = ROOT / "config.example.toml"
    settings = load_settings(example)
    raw = tomllib.loads(example.read_text())
    for section, cls in SECTIONS.items():
        for name in cls.__dataclass_fields__:
            assert name in raw[section], f"config.example.toml lacks {section}.{name}"
    assert settings.model.id == "tiny"


def test_issue_example_message() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"model": {"steps_max": "x"}})
    assert str(caught.value) == ("config: model.steps_max must be an integer between 1 and 150, "
                                 "got 'x'")


@pytest.mark.parametrize(("raw", "needle"), [
    ({"model": {"stepz": 3}}, "unknown key model.stepz"),
    ({"modle": {}}, "unknown section [modle]"),
    ({"model": {"width": 500}}, "model.width must be a multiple of 8"),
    ({"model": {"dtype": "fp8"}}, "model.dtype must be one of"),
    ({"model": {"scheduler": "warp"}}, "model.scheduler must be one of"),
    ({"model": {"family": "sd3"}}, "model.family must be one of"),
    ({"model": {"id": ""}}, "model.id must be a non-empty string"),
    ({"discord": {"dev_guild_ids": ["abc"]}}, "discord.dev_guild_ids"),
    ({"discord": {"token": "secret"}}, "DISCORD_TOKEN"),
    ({"model": {"steps": 200, "steps_max": 100}}, "model.steps (200) must not exceed"),
    ({"storage": {"png_compress_level": 10}}, "storage.png_compress_level"),
])
def test_bad_values_name_the_key(raw: dict[str, dict[str, object]], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw)
    assert needle in str(caught.value)


def test_token_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"discord": {"token": "super-secret-token"}})
    assert "super-secret-token" not in str(caught.value)


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "neurostream.toml"
    config.parent.mkdir()
    config.write_text('[storage]\ndatabase = "data/ns.db"\n[discord]\ndev_guild_ids = [123]\n')
    settings = load_settings(config)
    assert settings.database_path == config.parent / "data" / "ns.db"
    assert settings.discord.dev_guild_ids == (123,)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_storage_paths_are_relative_to_the_data_dir(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "neurostream.toml"
    config.parent.mkdir()
    config.write_text('[storage]\ndata_dir = "state"\ndatabase = "ns.db"\n'
                      f'output_dir = "{tmp_path / "pngs"}"\n')
    settings = load_settings(config)
    assert settings.data_dir == config.parent / "state"
    assert settings.database_path == config.parent / "state" / "ns.db"
    assert settings.output_dir == tmp_path / "pngs"  # an absolute path stays where it says


def test_without_a_config_file_data_goes_to_the_platform_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for settings in (load_settings(None), settings_from_dict({})):
        assert settings.database_path == tmp_path / "xdg" / "neurostream" / "neurostream.db"
        assert settings.output_dir == tmp_path / "xdg" / "neurostream" / "outputs"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # invalid per the XDG spec
    assert platform_data_dir() == Path.home() / ".local" / "share" / "neurostream"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert platform_data_dir() == Path.home() / "Library" / "Application Support" / "neurostream"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert platform_data_dir() == tmp_path / "local" / "neurostream"


def test_startup_retry_is_bounded() -> None:
    assert settings_from_dict({}).discord.startup_retry_seconds == 60.0
    with pytest.raises(ConfigError, match=r"discord\.startup_retry_seconds must be a number"):
        settings_from_dict({"discord": {"startup_retry_seconds": -1}})
