"""The API's routes, one :class:`fastapi.APIRouter` per part: questions, library, health."""
