"""Two spirals and teacher-student: what their formulas say, checked on the generated examples."""

import math

import pytest
import torch

import optimlab.data


def everything(name, seed=0, **options):
    return optimlab.data.load(name, seed=seed, val_fraction=0.0, test_fraction=0.0, **options).train


def test_two_spirals_classes_are_balanced_and_odd_n_rounds_down():
    assert torch.bincount(everything("two_spirals", n=400).y).tolist() == [200, 200]
    assert torch.bincount(everything("two_spirals", n=401).y).tolist() == [200, 200]


def test_noiseless_spiral_points_lie_on_their_arm():
    turns = 1.5
    pair = everything("two_spirals", n=400, noise=0.0, turns=turns)
    radius = pair.x.double().norm(dim=1)
    angle = torch.atan2(pair.x[:, 1].double(), pair.x[:, 0].double())
    expected = 2 * math.pi * turns * radius + math.pi * pair.y.double()  # spiral 1 is spiral 0 turned by pi
    gap = torch.remainder(angle - expected + math.pi, 2 * math.pi) - math.pi
    assert radius.max() <= 1.0 and gap.abs().max() < 1e-4


def test_spiral_noise_has_the_requested_scale():
    clean = everything("two_spirals", n=4000, noise=0.0)
    noisy = everything("two_spirals", n=4000, noise=0.1)
    assert torch.equal(clean.y, noisy.y)
    assert (noisy.x - clean.x).std().item() == pytest.approx(0.1, rel=0.05)


def test_teacher_targets_are_a_nonlinear_function_of_inputs_plus_the_noise():
    clean = everything("teacher_student", n=4000, noise=0.0)
    noisy = everything("teacher_student", n=4000, noise=0.2)
    assert torch.equal(clean.x, noisy.x)  # the noise is drawn last
    assert (noisy.y - clean.y).std().item() == pytest.approx(0.2, rel=0.05)
    design = torch.cat([clean.x, torch.ones(4000, 1)], 1).double()
    residual = clean.y.double() - design @ torch.linalg.lstsq(design, clean.y.double()).solution
    assert residual.var() > 0.01 * clean.y.double().var()  # tanh makes it more than a linear map


def test_teacher_student_targets_are_of_order_one():
    y = everything("teacher_student", n=4000, in_features=50, noise=0.0).y
    assert 0.05 < y.std().item() < 2.0
