"""Piazza: a shared agenda for local communities."""

__version__ = "0.1.0"
