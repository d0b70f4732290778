"""The federation package's routes as one router, for `create_app`."""

from piazza.federation.api import router

__all__ = ["router"]
