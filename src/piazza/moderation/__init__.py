"""Moderation messages about events: reports from anyone, notes between moderators and authors."""

from piazza.moderation.api import router

__all__ = ["router"]
