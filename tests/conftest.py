from __future__ import annotations

from pathlib import Path

import pytest

from spec import loader
from spec.model import Profile, Spec

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"


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
