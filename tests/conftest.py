from __future__ import annotations

import os
from pathlib import Path

import pytest

from spec import loader
from spec.model import Profile, Spec

ROOT = Path(__file__).resolve().parent.parent
# The supplier's manual is not part of the repository (a fresh clone, as in CI, may not have it):
# it is looked for beside the clone, as on the team's machines, or where YBX_SEEDS points.
SEEDS = Path(os.environ.get("YBX_SEEDS") or ROOT.parent / "shared" / "seeds")
MANUAL = SEEDS / "000_99959f91876fab7c.txt"
needs_manual = pytest.mark.skipif(
    not MANUAL.is_file(),
    reason=f"NEEDS THE SUPPLIER'S MANUAL, not found at {MANUAL}: put the seeds folder beside the clone "
           "(../shared/seeds) or set YBX_SEEDS=DIR; see README 'Tests that need the supplier's manual'")


@pytest.fixture(scope="session")
def spec() -> Spec:
    return loader.load_spec()


@pytest.fixture(scope="session")
def profile(spec: Spec) -> Profile:
    return spec.profile("default")


@pytest.fixture
def ota(spec):
    from mockkit import make_ota

    return make_ota(spec)
