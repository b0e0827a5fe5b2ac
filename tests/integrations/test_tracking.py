"""The trackers' shared door: a bad value given to open_tracker or log_run is named in one line."""

import pytest

from integrations import train_with_tracker
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.integrations import log_run, open_tracker


def test_params_must_be_a_mapping_and_log_run_takes_a_run_folder_and_a_tracker(tmp_path):
    with pytest.raises(InvalidValueError, match="'list' for params: accepted a mapping"):
        open_tracker("tensorboard", folder=tmp_path, run_name="r", params=[("lr", 0.1)])
    with pytest.raises(OptimlabError, match="is not a run folder"):
        log_run(tmp_path, open_tracker("tensorboard", folder=tmp_path, run_name="r"))
    out = tmp_path / "run"
    train_with_tracker(out, "tensorboard")
    with pytest.raises(InvalidValueError, match="'str' for tracker: accepted a Tracker"):
        log_run(out, "tensorboard")
    assert log_run(str(out), open_tracker("tensorboard", folder=tmp_path, run_name="again")).closed


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_a_tracker_logging_every_zero_or_a_fraction_of_steps_is_refused_in_one_line(tmp_path, every):
    """TensorBoardTracker(every=0) raised ZeroDivisionError at the first step of training."""
    from optimlab.integrations.tensorboard import TensorBoardTracker

    with pytest.raises(InvalidValueError, match=f"invalid value {every} for TensorBoardTracker every"):
        TensorBoardTracker(tmp_path / "tb", every=every)
