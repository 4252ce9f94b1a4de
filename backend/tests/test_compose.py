"""docker-compose.yml is valid against the Compose specification (no Docker engine needed)."""

import subprocess
import sys
from pathlib import Path

from app.config import ROOT_DIR


def test_compose_file_matches_the_compose_spec():
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.compose-spec", str(ROOT_DIR / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout
