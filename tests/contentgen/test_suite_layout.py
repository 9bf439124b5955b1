"""The suite's own machinery: what `make test` relies on to share one server per group of tests."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("layout-check")


def test_an_xdist_group_reaches_the_scheduler(request: pytest.FixtureRequest) -> None:
    """Under `--dist loadgroup` (make test), xdist sends a group to one worker by a `@group` suffix on the
    test's id. When a pytest release stops honouring it, every group's servers start once per worker."""
    if not getattr(request.config.option, "loadgroup", False):
        return  # not under xdist's loadgroup: nothing is scheduled by group
    assert request.node.nodeid.endswith("@layout-check"), request.node.nodeid
