"""plot writes a real image of the schedules."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from optimlab.errors import InvalidValueError
from optimlab.schedules import create, plot


def test_png_of_several_schedules(tmp_path: Path) -> None:
    names = ("cosine", "wsd", "one_cycle")
    schedules = {name: create(name, total_steps=200, warmup_steps=20) for name in names}
    path = plot(schedules, 200, tmp_path / "nested" / "schedules.png", base_lr=3e-4)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000  # axes, three curves and a legend, not an empty canvas


def test_svg_of_one_schedule(tmp_path: Path) -> None:
    """Also of NumPy's numbers (a run's length computed with NumPy), refused as 'invalid value np.int64(100)
    for total_steps: accepted an integer' before: drawn as the Python numbers they hold."""
    path = plot(
        create("sgdr", total_steps=100), np.int64(100), str(tmp_path / "sgdr.svg"), base_lr=np.float32(1)
    )
    assert isinstance(path, Path) and b"<svg" in path.read_bytes()[:500]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [((10, "out.jpg"), "suffix"), ((0, "out.png"), "total_steps"), ((10, "out.png", -1.0), "base_lr")],
)
def test_bad_arguments_are_rejected(tmp_path: Path, arguments: tuple, field: str) -> None:
    total_steps, name, *base_lr = arguments
    with pytest.raises(InvalidValueError, match=field):
        plot(create("constant"), total_steps, tmp_path / name, **({"base_lr": base_lr[0]} if base_lr else {}))


def test_a_long_run_is_drawn_from_evenly_spaced_steps_the_last_included(tmp_path: Path) -> None:
    """``optimlab plot-schedule --steps 1e11`` hung, evaluating every one of 10^11 steps."""
    from optimlab.schedules.plot import MAX_POINTS, _drawn_steps

    assert _drawn_steps(5) == [0, 1, 2, 3, 4] and _drawn_steps(MAX_POINTS) == list(range(MAX_POINTS))
    for total in (MAX_POINTS + 1, 10**11 + 7):
        steps = _drawn_steps(total)
        gaps = {b - a for a, b in itertools.pairwise(steps[:-1])}  # the last step closes the run
        assert steps[0] == 0 and steps[-1] == total - 1 and len(gaps) == 1 and len(steps) <= MAX_POINTS + 1
    path = plot(create("cosine", total_steps=10**11), 10**11, tmp_path / "long.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_a_run_longer_than_numpy_s_integers_is_drawn(tmp_path: Path) -> None:
    """``optimlab plot-schedule --steps 99999999999999999999`` (a positive int, as --steps accepted) ended
    in matplotlib's traceback: its x limit, a Python int past 2**64 - 1, is no numpy number. A count is now
    refused past int64 (torch's steps), so the longest run drawn is 2**63 - 1 steps."""
    total = 2**63 - 1
    path = plot(create("cosine", total_steps=total), total, tmp_path / "longer.svg")
    assert b"<svg" in path.read_bytes()[:500]


@pytest.mark.parametrize("second", ["gamma=0.7", "GAMMA=0.5"])
def test_a_schedule_keyword_given_twice_is_refused_in_one_line(cli, tmp_path: Path, second: str) -> None:
    """``plot-schedule step --option gamma=0.5 --option gamma=0.7`` drew gamma 0.7 without a word (the
    last of the two), where --set refuses a field set twice: which would win is no guess to leave. Now
    refused naming the second, exit 2, nothing drawn; the same keyword by another spelling too."""
    out = tmp_path / "s.svg"
    code, _, err = cli(
        "plot-schedule", "step", "--option", "gamma=0.5", "--option", second, "--out", str(out)
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert repr(second) in err and "another --option sets gamma too" in err and not out.exists()
