"""The wheel carries the dashboard's stylesheet (package data, not a module)."""

from __future__ import annotations

import zipfile

import pytest

from test_install_modes import Built, built  # noqa: F401  (the wheel, built by that fixture)

pytestmark = pytest.mark.install


def test_the_wheel_ships_the_dashboards_stylesheet(built: Built) -> None:  # noqa: F811
    with zipfile.ZipFile(built.wheel) as wheel:
        css = wheel.read("smtpwatch/local/pages/style.css").decode("utf-8")
    assert "@media (max-width: 700px)" in css and "td.state" in css
