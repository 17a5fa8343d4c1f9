"""Security regression tests share the API fixtures of tests/dispatcher."""
from tests.dispatcher.conftest import api, open_api, settings  # noqa: F401
