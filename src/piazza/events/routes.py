"""The events package's routes as one router, for `create_app`."""

from fastapi import APIRouter

from piazza.events import api, feed_api, place_tag_api

router = APIRouter()
router.include_router(api.router)
router.include_router(place_tag_api.router)
router.include_router(feed_api.router)
