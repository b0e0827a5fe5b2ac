"""The gallery run once at size tiny, shared by the tests of its pages and of their rendering."""

import dataclasses
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest

import optimlab.gallery.publish
from optimlab.gallery import Outcome, experiment_names, get_experiment, run_gallery


@dataclasses.dataclass
class TinyGallery:
    folder: Path
    index: Path
    outcomes: dict[str, Outcome]
    pages: dict[str, Path]


class SharedOutcomes:
    """Each experiment's tiny outcome computed once for the whole test session, whichever xdist worker asks:
    a worker claims an experiment (a file made exclusively), computes it with the gallery's own
    ``_outcome`` and pickles it; a worker that finds it claimed computes another unclaimed one meanwhile,
    then loads the other's. The experiments are seeded: the pickled outcome is the one it would compute."""

    def __init__(self, folder: Path, compute):
        self.folder, self.compute = folder, compute

    def _claim(self, name: str) -> bool:
        try:
            os.close(os.open(self.folder / f"{name}.claim", os.O_CREAT | os.O_EXCL))
            return True
        except FileExistsError:
            return False

    def _store(self, name: str, size: str) -> None:
        outcome = self.compute(get_experiment(name), size)
        partial = self.folder / f"{name}.partial"
        partial.write_bytes(pickle.dumps(outcome))
        partial.replace(self.folder / f"{name}.pickle")

    def __call__(self, experiment, size: str) -> Outcome:
        done = self.folder / f"{experiment.name}.pickle"
        if self._claim(experiment.name):
            self._store(experiment.name, size)
        deadline = time.monotonic() + 600
        while not done.exists():
            spare = next((name for name in experiment_names() if self._claim(name)), None)
            if spare is not None:
                self._store(spare, size)
            elif time.monotonic() > deadline:
                pytest.fail(f"no outcome of {experiment.name} from the worker that claimed it")
            else:
                time.sleep(0.05)
        return pickle.loads(done.read_bytes())


def _tiny_pages(tmp_path_factory, names: list[str], earlier: TinyGallery | None = None) -> TinyGallery:
    """The experiments ``names`` at size tiny, their pages and the index, written by this worker's own
    ``run_gallery`` into a folder holding the pages of ``earlier`` (each page written once a session: the
    index then links both); each outcome computed once per session, shared by every fixture and xdist
    worker that asks for it (:class:`SharedOutcomes`)."""
    session_root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session_root = session_root.parent  # the workers' base folders lie in the session's one
    shared = session_root / "tiny_gallery_outcomes"
    shared.mkdir(exist_ok=True)
    folder = tmp_path_factory.mktemp("gallery")
    outcomes, pages = {}, {}
    if earlier is not None:
        for name, outcome in earlier.outcomes.items():
            for suffix in (".html", ".json"):
                shutil.copy(earlier.folder / f"{name}{suffix}", folder)
            outcomes[name], pages[name] = outcome, folder / f"{name}.html"

    def done(outcome, page):
        outcomes[outcome.name], pages[outcome.name] = outcome, page

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            optimlab.gallery.publish, "_outcome", SharedOutcomes(shared, optimlab.gallery.publish._outcome)
        )
        patch.setattr(optimlab.gallery.publish, "experiment_names", lambda: names)
        index = run_gallery(size="tiny", out=folder, on_done=done)
    order = [name for name in experiment_names() if name in outcomes]
    return TinyGallery(
        folder=folder,
        index=index,
        outcomes={n: outcomes[n] for n in order},
        pages={n: pages[n] for n in order},
    )


# The experiments quickest at size tiny (0.2 to 0.9 s of CPU each of tiny_gallery's ~40 s), of both kinds: the pages
# of an index's tests, which a run of those tests alone pays in seconds.
FEW = ["batch_norm", "no_nonlinearity", "mnist1d_baselines", "small_init", "input_scale"]


@pytest.fixture(scope="session")
def few_tiny_pages(tmp_path_factory):
    """The experiments :data:`FEW` at size tiny, their pages and an index of them."""
    return _tiny_pages(tmp_path_factory, FEW)


@pytest.fixture(scope="session")
def tiny_gallery(tmp_path_factory, few_tiny_pages):
    """Every experiment at size tiny (~40 s of CPU in all, once per session: xdist's workers share the
    outcomes), its pages and the index: those of :func:`few_tiny_pages` copied, not written again."""
    rest = [name for name in experiment_names() if name not in few_tiny_pages.outcomes]
    return _tiny_pages(tmp_path_factory, rest, few_tiny_pages)
