from piazza.db.base import Base, UTCDateTime, utcnow
from piazza.db.engine import Database

__all__ = ["Base", "Database", "UTCDateTime", "utcnow"]
