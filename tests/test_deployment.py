"""The deployment files the README installs are valid as shipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted((ROOT / "config/systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_unit_verifies(unit: Path, tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is installed by tests/system-packages"
    # The unit names the documented checkout, /srv/order-portal: verify it against this one.
    text = unit.read_text().replace("/srv/order-portal", str(ROOT))
    copy = tmp_path / unit.name
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_gunicorn_unit_runs_the_shipped_config():
    unit = (ROOT / "config/systemd/order-portal.service").read_text()
    assert "-c config/gunicorn.conf.py wsgi:app" in unit
    assert "EnvironmentFile=/etc/order-portal/portal.env" in unit
    assert (ROOT / "config/gunicorn.conf.py").is_file() and (ROOT / "wsgi.py").is_file()
