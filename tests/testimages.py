"""Names of the images that tests build on the Docker engine, one test session's own.

The engine is shared: ./podiumctl test runs two pytest sessions at once (SQLite and
PostgreSQL), and other checkouts test beside them. A test that removes its image's tag to
make a run load it (tests/scoring/test_fault_recovery.py), or that checks the image is gone
after the run, must not meet another session's image under the same tag or the same id: the
tag carries this session's id, and so does a label, which makes the image's id this
session's own (the build cache would otherwise give two sessions the same id).
"""

import uuid

SESSION = uuid.uuid4().hex[:12]
SESSION_LABEL = "org.podium-test.session"


def session_tag(name: str) -> str:
    """``podium-test/NAME-SESSION:latest``: this session's tag for the image ``name``."""
    return f"podium-test/{name}-{SESSION}:latest"
