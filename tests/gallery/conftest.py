"""The gallery run once at size tiny, shared by the tests of its pages and of their rendering."""

import dataclasses
from pathlib import Path

import pytest

from optimlab.gallery import Outcome, run_gallery


@dataclasses.dataclass
class TinyGallery:
    folder: Path
    index: Path
    outcomes: dict[str, Outcome]
    pages: dict[str, Path]


@pytest.fixture(scope="session")
def tiny_gallery(tmp_path_factory):
    """Every experiment at size tiny (~15 s in all), its pages and the index."""
    folder = tmp_path_factory.mktemp("gallery")
    outcomes, pages = {}, {}

    def done(outcome, page):
        outcomes[outcome.name], pages[outcome.name] = outcome, page

    index = run_gallery(size="tiny", out=folder, on_done=done)
    return TinyGallery(folder=folder, index=index, outcomes=outcomes, pages=pages)
