"""Moderation messages about events: reports from anyone, notes between moderators and authors."""
