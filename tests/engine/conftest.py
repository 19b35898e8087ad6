"""One thread per fit in these tests: the test machine's two cores are shared with other
processes, and OpenMP with more threads than free cores runs many times slower."""

import pytest

from engine.families import set_thread_budget


@pytest.fixture(autouse=True, scope="module")
def _one_training_thread():
    set_thread_budget(1)
    yield
    set_thread_budget(None)
