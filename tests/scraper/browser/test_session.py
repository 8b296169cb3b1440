"""The session's own failures against the sandbox: nothing escapes as a bare OS error."""

import logging

import pytest

from flows.client import Vats
from scraper.errors import StorageError
from tests.conftest import account_settings

pytestmark = pytest.mark.browser


async def test_a_session_that_cannot_be_saved_is_a_warning_and_the_run_goes_on(
        sandbox, tmp_path, caplog):
    """The state folder is not a folder: the login and the inventory work, the user is told
    once why the next run logs in again, and no OSError reaches them."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    settings = account_settings(sandbox, state_dir=blocker / "state")
    with caplog.at_level(logging.WARNING, logger="scraper.browser.session"):
        async with Vats(settings=settings) as vats:
            inventory = await vats.trunks()
            error = vats.session.save_error
    assert inventory.trunks and not inventory.failures
    assert isinstance(error, StorageError)
    assert error.path is not None and error.path.startswith(str(blocker))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cannot save the session" in w and "next run logs in again" in w
               for w in warnings), warnings
