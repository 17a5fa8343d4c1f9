"""Security regression tests: one module per finding, against a real API server and Redis."""
from tests.dispatcher.conftest import Api, api, open_api, settings  # noqa: F401
