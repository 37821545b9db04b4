"""A deliberately damaged dpone: a copy of this venv's dpone 0.88.0 whose PostgreSQL staging load drops the first
row of every load, run through its own interpreter (a wrapper that puts the copy first on the path). A bad build
must come out of the comparison as a regression. Its catalogue also lacks one case (ABSENT_CASE), so the same
build shows a partition the build under test does not have."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builds import interpreter_cache, old_python, old_wheel  # noqa: F401

PATCHED_FILE = "dpone/runtime/sinks/staging_managers/postgres.py"
CATALOGUE_FILE = "dpone/integration_matrix.py"
ABSENT_CASE = "postgres_to_postgres__replace"
CATALOGUE_PATCH = (
    "DEFAULT_INTEGRATION_MATRIX = IntegrationMatrix.build_default()\n",
    "DEFAULT_INTEGRATION_MATRIX = IntegrationMatrix(\n"
    f"    cases=tuple(c for c in IntegrationMatrix.build_default().cases if c.case_id != {ABSENT_CASE!r})\n"
    ")  # DAMAGED: one case less\n",
)
PATCHES = (
    (  # CSV file load into the staging table: skip the first line
        "        with self.connector.connection.cursor() as cursor:\n"
        "            with cursor.copy(copy_sql) as copy:\n"
        "                with open_func(file_artifact.file_path, mode, **open_kwargs) as data_file:\n",
        "        with self.connector.connection.cursor() as cursor:\n"
        "            with cursor.copy(copy_sql) as copy:\n"
        "                with open_func(file_artifact.file_path, mode, **open_kwargs) as data_file:\n"
        "                    if file_artifact.format != 'binary':\n"
        "                        data_file.readline()  # DAMAGED: one row per load is lost\n",
    ),
    (  # row batches into the staging table: drop the first row
        "        csv_rows = list(self._rows_to_csv(rows, columns))\n",
        "        csv_rows = list(self._rows_to_csv(rows, columns))[1:]  # DAMAGED: one row per batch is lost\n",
    ),
)


@pytest.fixture(scope="session")
def damaged_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import dpone

    site = Path(dpone.__file__).resolve().parents[1]
    dest = tmp_path_factory.mktemp("damaged-dpone") / "site"
    shutil.copytree(site / "dpone", dest / "dpone", ignore=shutil.ignore_patterns("__pycache__"))
    (dist_info,) = site.glob("dpone-*.dist-info")
    shutil.copytree(dist_info, dest / dist_info.name)
    target = dest / PATCHED_FILE
    text = target.read_text(encoding="utf-8")
    for old, new in PATCHES:
        assert text.count(old) == 1, f"{PATCHED_FILE} changed: the damage patch no longer applies"
        text = text.replace(old, new)
    target.write_text(text, encoding="utf-8")
    catalogue = dest / CATALOGUE_FILE
    text = catalogue.read_text(encoding="utf-8")
    assert text.count(CATALOGUE_PATCH[0]) == 1, f"{CATALOGUE_FILE} changed: the catalogue patch no longer applies"
    catalogue.write_text(text.replace(*CATALOGUE_PATCH), encoding="utf-8")
    # Bytecode as the original has it: without it (PYTHONDONTWRITEBYTECODE is common) every dpone call of the copy
    # would compile dpone from source, a slowdown of the fixture, not of the damage.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(dest / "dpone")], check=True, timeout=900)
    wrapper = dest.parent / "python"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH='{dest}' exec '{sys.executable}' \"$@\"\n", encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper
