"""axonal.data.adapt / batches_of: every streaming source becomes (x, y, sample_weight) batches
one epoch at a time; anything else is refused at once, naming what it got."""

import warnings

import numpy as np
import pytest

from axonal.data import (
    Dataset,
    DatasetAdapter,
    IterableAdapter,
    IteratorAdapter,
    PyDataset,
    PyDatasetAdapter,
    adapt,
    batches_of,
)


def make_batches(count=3, rows=4):
    for i in range(count):
        yield np.full((rows, 2), float(i)), np.full(rows, i)


class Batches(PyDataset):
    def __init__(self, count=3, **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.ended = 0

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        return np.full((2, 3), float(index)), np.full(2, index), np.ones(2)

    def on_epoch_end(self):
        self.ended += 1


def test_generator_batches_become_x_y_none():
    batches = list(batches_of(make_batches()))
    assert len(batches) == 3
    x, y, w = batches[2]
    assert x.shape == (4, 2) and y.tolist() == [2] * 4 and w is None


def test_batch_forms_follow_keras_unpacking():
    x = np.zeros((2, 3))
    forms = [x, (x,), [x, np.ones(2)], (x, np.ones(2), np.ones(2)), {"a": x}]
    unpacked = [next(batches_of(iter([form]))) for form in forms]
    assert [tuple(part is None for part in batch) for batch in unpacked] == [
        (False, True, True),
        (False, True, True),
        (False, False, True),
        (False, False, False),
        (False, True, True),
    ]
    assert list(unpacked[4][0]) == ["a"]
    with pytest.raises(ValueError, match="Batch 0 is a tuple of 4 parts"):
        next(batches_of(iter([(x, x, x, x)])))


def test_a_one_shot_generator_continues_with_steps_and_is_refused_when_spent():
    source = adapt(make_batches(count=5), steps=2)
    assert isinstance(source, IteratorAdapter) and source.num_batches == 2
    epochs = [[int(y[0]) for _, y, _ in source.epoch()] for _ in range(2)]
    assert epochs == [[0, 1], [2, 3]]
    with pytest.warns(UserWarning, match="ran out of data after 1 of steps=2"):
        assert [int(y[0]) for _, y, _ in source.epoch()] == [4]
    with pytest.raises(ValueError, match="read only once"):
        list(source.epoch())
    spent = adapt(make_batches(count=2))
    assert len(list(spent.epoch())) == 2
    with pytest.raises(ValueError, match="ran out of batches after 2"):
        list(spent.epoch())


def test_an_empty_generator_is_reported():
    with pytest.raises(ValueError, match="yielded no batches"):
        list(batches_of(iter([])))


def test_a_list_of_batches_is_read_again_every_epoch():
    data = list(make_batches(count=2))
    source = adapt(data)
    assert isinstance(source, IterableAdapter) and source.num_batches == 2
    assert len(list(source.epoch())) == 2 and len(list(source.epoch())) == 2


def test_a_dataset_of_batches(no_thread_leak):
    x = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    w = np.linspace(0.1, 1, 10)
    ds = Dataset.from_tensor_slices((x, y, w)).batch(4).prefetch(2)
    source = adapt(ds)
    assert isinstance(source, DatasetAdapter) and source.num_batches == 3
    batches = list(source.epoch())
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_allclose(np.concatenate([b[2] for b in batches]), w)
    named = Dataset.from_tensor_slices(({"a": x, "b": x[:, :1]}, y)).batch(5)
    (inputs, targets, none), _ = list(batches_of(named))
    assert sorted(inputs) == ["a", "b"] and targets.shape == (5,) and none is None


def test_an_infinite_dataset_needs_steps_and_keeps_its_place(no_thread_leak):
    ds = Dataset.range(100).batch(2).repeat().prefetch(1)
    with pytest.raises(ValueError, match="infinite.*steps"):
        adapt(ds)
    source = adapt(ds, steps=3)
    assert source.num_batches == 3
    first = [b[0].tolist() for b in source.epoch()]
    second = [b[0].tolist() for b in source.epoch()]
    assert first == [[0, 1], [2, 3], [4, 5]] and second == [[6, 7], [8, 9], [10, 11]]
    source.close()


def test_a_pydataset_with_workers_and_on_epoch_end(no_thread_leak):
    data = Batches(count=4, workers=2)
    source = adapt(data)
    assert isinstance(source, PyDatasetAdapter) and source.num_batches == 4
    for _ in range(2):
        assert [int(y[0]) for _, y, _ in source.epoch()] == [0, 1, 2, 3]
    assert data.ended == 2
    short = adapt(Batches(count=4), steps=2)
    assert [int(y[0]) for _, y, _ in short.epoch()] == [0, 1]


def test_an_endless_pydataset_needs_steps_and_goes_on():
    class Endless(PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return np.full((1, 1), float(index)), np.zeros(1)

    with pytest.raises(ValueError, match="endless.*steps"):
        adapt(Endless())
    source = adapt(Endless(), steps=2)
    assert [[float(x[0, 0]) for x, _, _ in source.epoch()] for _ in range(2)] == [
        [0.0, 1.0],
        [2.0, 3.0],
    ]


def test_inconsistent_batches_are_reported_by_number():
    def changing_structure():
        yield np.zeros((2, 3)), np.zeros(2)
        yield np.zeros((2, 3)), np.zeros(2)
        yield np.zeros((2, 3)), np.zeros(2), np.ones(2)

    with pytest.raises(ValueError, match="Batch 2 does not match the first batch"):
        list(batches_of(changing_structure()))

    def changing_rank():
        yield np.zeros((2, 3)), np.zeros(2)
        yield np.zeros((2, 3, 1)), np.zeros(2)

    with pytest.raises(ValueError, match="Batch 1 .*x=array\\(2, 3, 1\\)"):
        list(batches_of(changing_rank()))

    def rows_disagree():
        yield np.zeros((2, 3)), np.zeros(3)

    with pytest.raises(ValueError, match="Batch 0 has parts with different numbers of rows"):
        list(batches_of(rows_disagree()))


def test_variable_length_axes_are_allowed_between_batches():
    # padded_batch pads each batch to its own longest sequence: the model decides what fits
    ds = Dataset.from_generator(lambda: (np.ones(n) for n in (1, 2, 5, 6))).padded_batch(2)
    assert [x.shape for x, _, _ in batches_of(ds)] == [(2, 2), (2, 6)]


class LooksIndexable:
    def __len__(self):
        return 3

    def __getitem__(self, index):
        return np.zeros((1, 1))


@pytest.mark.parametrize(
    "data, words",
    [
        (np.zeros((4, 2)), "array-like ndarray"),
        ((np.zeros((4, 2)), np.zeros(4)), "tuple of 2 arrays"),
        ({"x": np.zeros(3)}, "dict"),
        ("batches.csv", "str"),
        (make_batches, "function 'make_batches'.*from_generator"),
        (LooksIndexable(), "LooksIndexable, which has __len__ and __getitem__.*PyDataset"),
        (42, "int, which is not iterable"),
    ],
)
def test_anything_else_is_refused_at_once(data, words):
    with pytest.raises(TypeError, match="Expected an axonal.data.Dataset, a PyDataset") as info:
        adapt(data)
    assert info.match(words)


def test_bad_steps_are_refused():
    with pytest.raises(ValueError, match="steps"):
        adapt([(np.zeros((1, 1)),)], steps=0)


def test_stopping_mid_epoch_without_steps_restarts_the_pass(no_thread_leak):
    source = adapt(Dataset.range(6).batch(2).prefetch(1))
    epoch = source.epoch()
    assert next(epoch)[0].tolist() == [0, 1]
    epoch.close()
    assert [x.tolist() for x, _, _ in source.epoch()] == [[0, 1], [2, 3], [4, 5]]


def test_closing_an_adapter_stops_the_prefetch_thread(no_thread_leak):
    source = adapt(Dataset.range(1000).batch(2).prefetch(2), steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(source.epoch())) == 1
    source.close()
