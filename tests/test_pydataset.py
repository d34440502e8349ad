"""PyDataset / Sequence (Keras 3's contract) and epoch_batches: order, workers, bounded queue,
on_epoch_begin / on_epoch_end, and worker cleanup."""

import gc
import threading
import time
import warnings

import numpy as np
import pytest

from axonal.data import PyDataset, epoch_batches
from axonal.utils import PyDataset as UtilsPyDataset
from axonal.utils import Sequence


class Numbers(PyDataset):
    """Batch i is x = [[i], [i]], y = [i, i]; records what happened."""

    def __init__(self, count=6, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.delay = delay
        self.events = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.delay:
            # later batches finish first, to show the order is kept anyway
            time.sleep(self.delay * (self.count - index))
        with self.lock:
            self.in_flight -= 1
        value = float(index)
        return np.full((2, 1), value), np.full(2, value)

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


def firsts(batches):
    return [int(y[0]) for _, y in batches]


def test_utils_exports_and_sequence_alias():
    assert UtilsPyDataset is PyDataset and Sequence is PyDataset


def test_keras_defaults_and_num_batches():
    data = Numbers()
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (1, False, 10)
    assert data.num_batches == 6
    assert firsts(data) == [0, 1, 2, 3, 4, 5]


def test_missing_super_init_warns_and_uses_defaults():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return np.zeros((1, 1))

    with pytest.warns(UserWarning, match="super\\(\\).__init__"):
        assert NoSuper().workers == 1


def test_missing_len_and_getitem_name_what_to_implement():
    class Empty(PyDataset):
        pass

    with pytest.raises(NotImplementedError, match="num_batches"):
        _ = Empty().num_batches
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Empty()[0]


def test_endless_dataset_through_num_batches_none():
    class Endless(PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return np.full((1, 1), index)

    data = Endless()
    iterator = iter(data)
    assert [int(next(iterator)[0, 0]) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="endless"):
        epoch_batches(data)
    assert [int(b[0, 0]) for b in epoch_batches(data, range(5, 8))] == [5, 6, 7]


@pytest.mark.parametrize("workers", [1, 4])
def test_epoch_is_in_order_with_begin_and_end(workers, no_thread_leak):
    data = Numbers(workers=workers, delay=0.002)
    assert firsts(epoch_batches(data)) == [0, 1, 2, 3, 4, 5]
    assert data.events == ["begin", "end"]
    assert firsts(epoch_batches(data, indices=[5, 0, 3])) == [5, 0, 3]
    assert data.events == ["begin", "end", "begin", "end"]


def test_workers_run_in_parallel_within_the_queue_bound(no_thread_leak):
    data = Numbers(count=12, workers=4, max_queue_size=3, delay=0.003)
    assert firsts(epoch_batches(data)) == list(range(12))
    assert 1 < data.most_in_flight <= 3


def test_stopping_early_ends_the_epoch_and_the_threads(no_thread_leak):
    data = Numbers(count=50, workers=3)
    batches = epoch_batches(data)
    assert firsts([next(batches), next(batches)]) == [0, 1]
    batches.close()
    assert data.events == ["begin", "end"]
    abandoned = epoch_batches(data)
    next(abandoned)
    del abandoned
    gc.collect()


def test_an_error_in_getitem_reaches_the_reader_without_ending_the_epoch(no_thread_leak):
    class Broken(Numbers):
        def __getitem__(self, index):
            if index == 2:
                raise KeyError("no batch 2")
            return super().__getitem__(index)

    data = Broken(workers=2)
    with pytest.raises(KeyError, match="no batch 2"):
        list(epoch_batches(data))
    assert data.events == ["begin"]


def test_multiprocessing_reads_in_order(no_thread_leak):
    data = Numbers(count=5, workers=2, use_multiprocessing=True)
    with warnings.catch_warnings():
        # where processes cannot start, threads are used with a warning: same batches
        warnings.simplefilter("ignore")
        assert firsts(epoch_batches(data)) == [0, 1, 2, 3, 4]
    assert data.events == ["begin", "end"]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="workers"):
        epoch_batches(Numbers(workers=-1))
    with pytest.raises(TypeError, match="PyDataset"):
        epoch_batches([1, 2])
