"""``citybrain data import`` at the console, against the demo city on both backends."""

from __future__ import annotations

from pathlib import Path

from tests.builders.datahub import person_csv, resident_id
from tests.integration.core.test_cli import cli_env, invoke

__all__ = ["cli_env"]


def test_import_from_the_command_line(cli_env: str, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--seed", "3")
    good = tmp_path / "people.csv"
    bad = tmp_path / "bad.csv"
    rows = [(resident_id(i), f"张{i}", "历下区") for i in range(1, 4)]
    good.write_bytes(person_csv(rows).replace(b"id_number,name,district", b"id_number,name,district"))
    bad.write_bytes(person_csv([(resident_id(1)[:-1] + "0", "张一", "历下区"), (resident_id(2), "", "历下区")]))

    ok = invoke("data", "import", str(good), "--resource", "jn.gaj/00001")
    refused = invoke("data", "import", str(bad), "--resource", "jn.gaj/00001", code=2)
    unknown = invoke("data", "import", str(good), "--resource", "jn.nowhere/1", code=1)

    assert "3 rows: 3 inserted" in ok
    assert "rejected: 2 problems in 2 rows" in refused
    assert "nothing was written" in refused
    assert "jn.nowhere/1" in unknown


def test_registries_from_the_command_line(cli_env: str) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--seed", "4")
    listed = invoke("data", "registries")
    for kind in ("population", "legal_entity", "credit", "geography", "economy", "licence"):
        assert kind in listed
    assert "jn.gaj/00001" in listed

    again = invoke("data", "consolidate", "legal_entity")
    assert "200 records from 2 sources" in again
    assert "0 inserted, 0 updated, 0 deleted" in again  # nothing changed since the demo consolidated
    unknown = invoke("data", "consolidate", "weather", code=1)
    assert "weather" in unknown
