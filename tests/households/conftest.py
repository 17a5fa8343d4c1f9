"""Households tests share the API fixture of tests/dispatcher."""
from tests.dispatcher.conftest import api, open_api, settings  # noqa: F401
