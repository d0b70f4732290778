"""Imports every domain's models so that `Base.metadata` describes the whole schema (for Alembic)."""

from piazza.accounts import models as accounts_models
from piazza.db import versions as db_versions
from piazza.events import models as events_models
from piazza.federation import models as federation_models
from piazza.instance import models as instance_models
from piazza.limits import models as limits_models
from piazza.mail import models as mail_models
from piazza.moderation import models as moderation_models
from piazza.oauth import models as oauth_models

__all__ = [
    "accounts_models",
    "db_versions",
    "events_models",
    "federation_models",
    "instance_models",
    "limits_models",
    "mail_models",
    "moderation_models",
    "oauth_models",
]
