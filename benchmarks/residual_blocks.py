"""``skips.residual_blocks`` (the doctor's reading of a model's residual connections, once a diagnosis)
against its version at another commit, on the same models, round after round.

Claim: on Hugging Face's models, whose layers fx cannot trace, the search fell back to tracing each part
alone, and most of its time went to tracing torch's own modules (each ``nn.Linear``, ``nn.Dropout`` and
``nn.LayerNorm`` of every layer, ~10 ms a trace), whose forward holds no skip, and to building a
``GraphModule`` (its Python code compiled) of every graph, only read. Both are now skipped. Each round
times both versions on each model (``--repeats`` calls, the median; which goes first alternates from
round to round), and checks that they find the same blocks; the table gives the medians and the median
within-round ratio with its 95% bootstrap interval (``paired.py``).

    python benchmarks/residual_blocks.py --before 280b6aa4~1 --rounds 5 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paired import paired_ratio
from torch import nn
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from optimlab.doctor import skips
from optimlab.models import create


def models() -> dict[str, nn.Module]:
    """Hugging Face's BERT and GPT-2 at 12 layers (small widths: the trace depends on the structure alone),
    torch's own encoder, and optimlab's own models."""
    return {
        "bert 12 layers": BertModel(
            BertConfig(num_hidden_layers=12, hidden_size=32, num_attention_heads=2, intermediate_size=32)
        ),
        "gpt2 12 layers": GPT2LMHeadModel(GPT2Config(n_layer=12, n_embd=32, n_head=2)),
        "nn.TransformerEncoder 6": nn.TransformerEncoder(
            nn.TransformerEncoderLayer(32, 2, 64, batch_first=True), 6
        ),
        "resnet": create("resnet", input_shape=(3, 32, 32), num_outputs=10),
        "transformer": create("transformer", input_shape=(16,), num_outputs=10),
        "cnn": create("cnn", input_shape=(1, 28, 28), num_outputs=10),
    }


def version_at(commit: str) -> Callable[[nn.Module], dict[str, str]]:
    """``residual_blocks`` as ``skips.py`` was at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:src/optimlab/doctor/skips.py"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "skips_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("skips_before", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # read whole: the folder may go once it has run
    return module.residual_blocks


def seconds(search: Callable[[nn.Module], dict[str, str]], model: nn.Module, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        search(model)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose skips.py is compared")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before, now = version_at(args.before), skips.residual_blocks
    print("| model | blocks | before (s) | now (s) | now/before [95% CI] |\n|---|---|---|---|---|")
    for name, model in models().items():
        found = now(model)
        if before(model) != found:
            sys.exit(f"{name}: the versions find different blocks")
        rounds = []
        for round_index in range(args.rounds):  # a fixed order would favour one version: alternate it
            order = (now, before) if round_index % 2 == 0 else (before, now)
            timed = {search: seconds(search, model, args.repeats) for search in order}
            rounds.append((timed[now], timed[before]))
        fast, slow = [n for n, _ in rounds], [b for _, b in rounds]
        ratio, low, high = paired_ratio(fast, slow)
        print(
            f"| {name} | {len(found)} | {statistics.median(slow):.3f} | {statistics.median(fast):.3f} "
            f"| {ratio:.2f} [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
