"""The linear-cost check passes on linear work and fails on quadratic work (so it can fail at all)."""

from __future__ import annotations

import pytest

from cast_pipeline_tests.costkit import assert_linear


def _total(items: list[int]) -> int:
    return sum(items)


def _ordered_pairs(items: list[int]) -> int:
    """Every pair compared: the textbook quadratic loop."""
    return sum(a < b for a in items for b in items)


def test_linear_work_passes() -> None:
    assert_linear(_total, lambda n: list(range(n)), 200_000)


def test_quadratic_work_fails() -> None:
    with pytest.raises(AssertionError, match="quadratic ~64"):
        assert_linear(_ordered_pairs, lambda n: list(range(n)), 150)
