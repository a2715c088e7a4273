"""SQLite: transactions that read and then write wait for each other instead of failing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from citybrain.core.audit import service as audit
from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth.principal import cli_principal
from citybrain.core.db import migrations
from citybrain.core.db.session import create_database


def test_concurrent_read_then_write_transactions_all_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    migrations.upgrade(url)
    database = create_database(url)
    failures: list[BaseException] = []

    def work() -> None:
        for _ in range(15):
            try:
                with database.transaction() as session:
                    session.scalar(select(func.count()).select_from(AuditEntry))  # read first ...
                    time.sleep(0.002)  # ... let another writer commit meanwhile ...
                    audit.record(session, cli_principal("t"), "test.write")  # ... then write
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with database.transaction() as session:
        written = audit.count(session)
        intact = audit.verify(session).ok
    database.dispose()

    assert failures == []
    assert written == 60
    assert intact
