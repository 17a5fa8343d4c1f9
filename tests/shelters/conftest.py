"""The API fixtures of tests/dispatcher, for the shelter endpoints."""
from tests.dispatcher.conftest import api, settings  # noqa: F401
