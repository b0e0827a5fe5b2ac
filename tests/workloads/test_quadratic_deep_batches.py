"""The quadratic_deep workload trains on DeepOBS's batches: its training DataLoader(batch_size=128,
shuffle=True, drop_last=True) over the 1,000 draws gives 7 batches an epoch, and 700 steps are its 100
epochs (Schneider et al. 2019, DeepOBS, ``deepobs/pytorch/datasets/quadratic.py``)."""

from torch.utils.data import DataLoader, TensorDataset

from optimlab.build import build_data
from optimlab.train import train
from optimlab.train.loop import Callback
from optimlab.workloads.quadratic import quadratic_deep


class LastState(Callback):
    def on_train_end(self, state):
        self.state = state


def test_quadratic_deep_takes_deepobs_seven_full_batches_an_epoch_for_100_epochs():
    """It kept the short batch of 104 rows: 8 batches an epoch, 700 steps 87.5 epochs."""
    recipe = quadratic_deep().recipe.with_updates({"training.eval_every": 700})
    rows = build_data(recipe).train.x
    deepobs = DataLoader(TensorDataset(rows), batch_size=128, shuffle=True, drop_last=True)
    last = LastState()
    result = train(recipe, callbacks=[last])
    assert last.state.steps_per_epoch == len(deepobs) == 7
    assert result.steps == 100 * last.state.steps_per_epoch
