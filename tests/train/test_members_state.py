"""The state a callback on batched members reads holds what the state of the same recipe's fit holds."""

from optimlab.recipe import Recipe
from optimlab.train import train
from optimlab.train.loop import Callback, TrainState
from optimlab.train.members import train_members


class StartRecorder(Callback):
    """Keeps the clip in force that the run's state names at its start."""

    def __init__(self) -> None:
        self.grad_clip_norm: float | None = None

    def on_train_start(self, state: TrainState) -> None:
        self.grad_clip_norm = state.grad_clip_norm


def test_a_callback_on_clipped_members_reads_the_clip_in_force_as_under_fit():
    """Batched members clip at training.grad_clip_norm, but their TrainState said None (train/loop.py's
    field promises the clip in force), so a callback reading it (the doctor's, which then advises the
    clip the run has) saw an unclipped run. Truth: the state fit gives the same recipe."""
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 8},
            "training": {"steps": 2, "batch_size": 32, "grad_clip_norm": 0.5},
        }
    )
    alone, batched = StartRecorder(), [StartRecorder(), StartRecorder()]
    train(recipe, callbacks=[alone])
    train_members([recipe, recipe.with_updates({"optimizer.lr": 0.01})], batched)
    assert alone.grad_clip_norm == 0.5
    assert [recorder.grad_clip_norm for recorder in batched] == [0.5, 0.5]
