"""The SSL losses against values worked out by hand, and their input checks."""

from __future__ import annotations

import math

import pytest
import torch

from vidray.errors import LayoutError
from vidray.ssl import byol_loss, info_nce, nt_xent


def test_nt_xent_equals_the_hand_computed_value():
    # Two videos, two views each; view 2 repeats view 1. For every anchor the candidates
    # are its own video's other view (similarity 1) and the other video's two views (0, 0).
    view = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    expected = math.log(2 + math.e) - 1  # -log(e^1 / (e^1 + e^0 + e^0))
    assert nt_xent([view, view.clone()], temperature=1.0).item() == pytest.approx(expected, abs=1e-6)


def test_nt_xent_with_three_views_averages_over_both_positives():
    view = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # candidates of an anchor: 2 positives (similarity 1) and 3 negatives (0): -log(e / (2e + 3))
    expected = math.log(2 * math.e + 3) - 1
    assert nt_xent([view, view, view], temperature=1.0).item() == pytest.approx(expected, abs=1e-6)


def test_nt_xent_scales_with_temperature_and_normalises_its_inputs():
    view = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # normalised inside: same as the unit vectors
    expected = math.log(2 + math.exp(1 / 0.5)) - 1 / 0.5
    assert nt_xent([view, view], temperature=0.5).item() == pytest.approx(expected, abs=1e-6)


def test_info_nce_equals_the_hand_computed_value():
    query, key = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    expected = math.log(math.e + 1 + math.exp(-1)) - 1  # logits [1, 0, -1], positive first
    assert info_nce(query, key, queue, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)


def test_info_nce_sends_no_gradient_to_keys_or_queue():
    query = torch.randn(4, 8, requires_grad=True)
    key, queue = torch.randn(4, 8, requires_grad=True), torch.randn(16, 8, requires_grad=True)
    info_nce(query, key, queue).backward()
    assert query.grad is not None and key.grad is None and queue.grad is None


def test_byol_loss_is_two_minus_twice_the_cosine():
    prediction = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    target = torch.tensor([[0.0, 1.0], [2.0, 0.0]])  # cosines 0 and 1
    assert byol_loss(prediction, target).item() == pytest.approx(((2 - 0) + (2 - 2)) / 2)


def test_a_single_view_or_mismatched_views_are_refused():
    with pytest.raises(LayoutError, match="at least 2 views"):
        nt_xent([torch.randn(4, 8)])
    with pytest.raises(LayoutError, match=r"one shape \[N, D\]"):
        nt_xent([torch.randn(4, 8), torch.randn(3, 8)])
