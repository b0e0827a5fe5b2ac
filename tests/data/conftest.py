"""Fixtures of the data tests."""

import pytest


@pytest.fixture(scope="session")
def package_dataset() -> dict:
    """The mnist1d package's own default data set (the paper's: seed 42, 4,000 training and 1,000 test
    examples), made once for the tests that hold optimlab's against it: 2.4 s of CPU a making."""
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())
