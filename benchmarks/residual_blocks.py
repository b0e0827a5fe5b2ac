"""``skips.residual_blocks`` (the doctor's reading of a model's residual connections, once a diagnosis)
against its version at another commit, on the same models, round after round.

Claim: where fx cannot read a model whole (Hugging Face's layers, torch's own encoder layers), the
search traced each part alone (~10 ms a trace) and read the rest by class name; it now reads them all
off the autograd graph of the doctor's first watched forward (``skips.ForwardSkips``), which adds a
fraction of one forward. "now" is ``read_skips`` plus what the watch adds to a forward (a watched
forward less a plain one, each the median of ``--repeats``); "before" the old version's whole search.
Each round times both (which goes first alternates from round to round); the table gives the medians,
the blocks each finds, and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    python benchmarks/residual_blocks.py --before 5cfdade5~1 --rounds 5 --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
from paired import alternating_rounds, paired_ratio, round_count
from torch import nn
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, SwinConfig, SwinModel

from optimlab.doctor import skips
from optimlab.models import create


def models() -> dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]]:
    """Hugging Face's BERT and GPT-2 at 12 layers and a Swin (small widths: the search depends on the
    structure alone), torch's own encoder, and optimlab's own models, each with a batch of inputs."""
    ids, images = torch.randint(0, 100, (8, 32)), torch.randn(8, 3, 32, 32)
    swin = SwinConfig(
        image_size=32, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[1, 2], window_size=4
    )
    return {
        "bert 12 layers": (
            BertModel(
                BertConfig(num_hidden_layers=12, hidden_size=32, num_attention_heads=2, intermediate_size=32)
            ),
            (ids,),
        ),
        "gpt2 12 layers": (GPT2LMHeadModel(GPT2Config(n_layer=12, n_embd=32, n_head=2)), (ids,)),
        "swin 2x2 layers": (SwinModel(swin), (images,)),
        "nn.TransformerEncoder 6": (
            nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 2, 64, batch_first=True), 6),
            (torch.randn(8, 16, 32),),
        ),
        "resnet": (create("resnet", input_shape=(3, 32, 32), num_outputs=10), (images,)),
        "transformer": (create("transformer", input_shape=(16,), num_outputs=10), (torch.randn(8, 16),)),
        "cnn": (create("cnn", input_shape=(1, 28, 28), num_outputs=10), (torch.randn(8, 1, 28, 28),)),
    }


def version_at(commit: str) -> ModuleType:
    """The module ``skips.py`` was at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:src/optimlab/doctor/skips.py"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "skips_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("skips_before", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)  # read whole: the folder may go once it has run
    return module


def seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def now_seconds(model: nn.Module, inputs: tuple[torch.Tensor, ...], repeats: int) -> float:
    """``read_skips`` and what watching one forward adds to it."""
    reading = seconds(lambda: skips.read_skips(model), repeats)
    found = skips.read_skips(model)
    if not found.watched:
        return reading
    plain = seconds(lambda: model(*inputs), repeats)
    watch = skips.ForwardSkips({})
    handles = [
        model.get_submodule(name).register_forward_hook(watch.hook(name), with_kwargs=True)
        for name in found.watched
    ]
    watched = seconds(lambda: model(*inputs), 1)  # once: later forwards' additions are new nodes
    for handle in handles:
        handle.remove()
    return reading + max(watched - plain, 0.0)


TABLE_HEADER = (
    "| model | blocks before / now | before (s) | now (s) | now/before [95% CI] |\n|---|---|---|---|---|"
)


def table_row(name: str, found: tuple[int, int], now: list[float], before: list[float]) -> str:
    """A model's row: the blocks each version finds (before, now), the median seconds of each over the
    rounds, and the median within-round ratio with its 95% bootstrap interval."""
    ratio, low, high = paired_ratio(now, before)
    return (
        f"| {name} | {found[0]} / {found[1]} | {statistics.median(before):.3f} "
        f"| {statistics.median(now):.3f} | {ratio:.2f} [{low:.2f}, {high:.2f}] |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose skips.py is compared")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before = version_at(args.before).residual_blocks
    print(TABLE_HEADER)
    for name, (model, inputs) in models().items():
        model.train()
        found = (len(before(model)), len(skips.residual_blocks(model, *inputs)))
        now, slow = alternating_rounds(
            functools.partial(now_seconds, model, inputs, args.repeats),
            functools.partial(seconds, functools.partial(before, model), args.repeats),
            args.rounds,
        )
        print(table_row(name, found, now, slow))


if __name__ == "__main__":
    main()
