import datetime as dt

import pytest
import yaml

from lastmile.errors import SettingsError
from lastmile.settings import SETTINGS_FILE, Home, Settings, load_settings


def test_first_use_writes_every_default_with_its_explanation(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings()
    assert settings.network_timezone == "UTC" and settings.event_latency_minutes == 15
    text = (tmp_path / SETTINGS_FILE).read_text()
    written = yaml.safe_load(text)
    assert set(written) == set(Settings.model_fields)
    assert "# IANA timezone of the network" in text
    assert load_settings(tmp_path, environ={}) == settings  # the written file reads back as the defaults


def test_file_value_then_environment_override(tmp_path):
    (tmp_path / SETTINGS_FILE).write_text("network_timezone: Europe/London\nstalled_hours: 8\n")
    settings = load_settings(tmp_path, environ={"LASTMILE_STALLED_HOURS": "6"})
    assert settings.network_timezone == "Europe/London"
    assert settings.stalled_hours == 6
    assert settings.partition_start_date == dt.date(2020, 1, 1)


@pytest.mark.parametrize(
    ("content", "environ", "expected"),
    [
        ("", {"LASTMILE_NETWORK_TIMEZONE": "Mars/Olympus"},
         "setting network_timezone = 'Mars/Olympus' from environment variable LASTMILE_NETWORK_TIMEZONE"),
        ("event_latency_minutes: -3\n", {}, "setting event_latency_minutes = -3 from"),
        ("hotspot_z: lots\n", {}, "setting hotspot_z = 'lots'"),
        ("colour: blue\n", {}, "unknown setting 'colour'"),
        ("network_timezone: [unclosed\n", {}, "not valid YAML"),
        ("- a\n- b\n", {}, "expected a mapping"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_errors_naming_the_setting(tmp_path, content, environ, expected):
    (tmp_path / SETTINGS_FILE).write_text(content)
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path, environ=environ)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_home_resolves_from_environment_or_default(tmp_path):
    assert Home.resolve(environ={"LASTMILE_HOME": str(tmp_path / "h")}).root == tmp_path / "h"
    assert Home.resolve(environ={}).root.name == "lastmile-home"
    assert Home.resolve(tmp_path / "x", environ={"LASTMILE_HOME": "elsewhere"}).root == tmp_path / "x"
