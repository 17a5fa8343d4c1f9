"""Security tests drive the API as an attacker or a careless operator would."""
from tests.dispatcher.conftest import api, settings  # noqa: F401  (fixtures)
