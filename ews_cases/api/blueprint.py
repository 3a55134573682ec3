"""The `/api/v1` blueprint every API module adds its routes to."""

from apiflask import APIBlueprint

api = APIBlueprint("api", __name__, url_prefix="/api/v1")
