from piazza.accounts.api import router

__all__ = ["router"]
