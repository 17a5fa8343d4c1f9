"""The API fixtures of tests/dispatcher, for the app views."""
from tests.dispatcher.conftest import api, settings  # noqa: F401
