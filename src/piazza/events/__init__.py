"""Events, places, tags, recurrence, images and feeds: the agenda behind Gancio's event API."""

from fastapi import APIRouter

from piazza.events import api, feed_api, place_tag_api

router = APIRouter()
router.include_router(api.router)
router.include_router(place_tag_api.router)
router.include_router(feed_api.router)

__all__ = ["router"]
