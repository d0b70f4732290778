from __future__ import annotations

import pytest

from piazza.db import Database
from piazza.instance.settings import set_setting


def set_settings(db: Database, **values: object) -> None:
    with db.session() as s:
        for key, value in values.items():
            set_setting(s, key, value)


@pytest.fixture
def federation_on(db: Database) -> None:
    set_settings(db, enable_federation=True, instance_name="events", title="Piazza Test", description="Ours")
