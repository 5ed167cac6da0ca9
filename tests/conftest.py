"""Shared test fixtures."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch and BLAS thread: the tiny models of the tests run fastest single-threaded (and far faster
    on a shared, busy machine). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    from threadpoolctl import threadpool_limits

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)
