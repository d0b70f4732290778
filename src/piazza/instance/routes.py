"""The instance package's routes as one router, for `create_app`."""

from fastapi import APIRouter

from piazza.instance import announcements_api, api, collections_api, pages_api

router = APIRouter()
router.include_router(api.router)
router.include_router(collections_api.router)
router.include_router(pages_api.router)
router.include_router(announcements_api.router)
