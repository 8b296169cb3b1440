"""Every module imports on its own (catches cycles and missing dependencies early)."""

import importlib
import pkgutil
import sys

import pytest

import flows
import scraper
import vats_fixtures


def _modules():
    names = []
    for package in (scraper, flows, vats_fixtures):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_import(name):
    module = importlib.import_module(name)
    assert module.__name__ == name
    assert sys.modules[name] is module


def test_codec_is_sans_io():
    """scraper.gwt imports nothing that does I/O (h11-style): checked in a fresh interpreter."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json, scraper.gwt, scraper.gwt.jsonform\n"
        "bad = {'socket', 'asyncio', 'aiohttp', 'playwright', 'http', 'ssl', 'selectors'}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in bad)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
