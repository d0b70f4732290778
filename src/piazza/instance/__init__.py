from piazza.instance.api import router

__all__ = ["router"]
