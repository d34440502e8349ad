"""Lookup and encoding layers: ``StringLookup``, ``IntegerLookup``, ``CategoryEncoding``,
``Hashing`` and ``Discretization`` (Keras 3 names, arguments, outputs and configs).

They turn raw values (strings, integer ids, floats) into indices or encodings. They compute on
NumPy arrays and return constants: nothing upstream of them is differentiated, as in Keras.
Their vocabularies, IDF weights and bin boundaries live in the layer config (JSON lists), so they
travel inside a saved model; a loader bounds their size through ``weight_budget``.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy

from axonal import weight_budget
from axonal.backend import floatx
from axonal.layers.base import Layer
from axonal.layers.preprocessing.hashing_functions import hash_to_buckets
from axonal.registry import register
from axonal.tensor import Tensor, wrap

ENCODED_MODES = ("one_hot", "multi_hot", "count")


def string_array(values) -> numpy.ndarray:
    """``values`` as a NumPy array of ``str`` (bytes decoded as UTF-8, other objects ``str()``)."""
    array = numpy.asarray(values.data if isinstance(values, Tensor) else values)
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "S":
        return numpy.char.decode(array, "utf-8")
    if array.dtype.kind == "O":
        flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel()]
        return numpy.asarray(flat, dtype=str).reshape(array.shape)
    return array.astype(str)


def encode_categorical(indices, output_mode: str, depth: int, dtype, count_weights=None):
    """Keras's ``one_hot`` / ``multi_hot`` / ``count`` encoding of integer ``indices``.

    ``one_hot`` adds an axis of ``depth`` (replacing a trailing axis of 1); ``multi_hot`` and
    ``count`` reduce the last axis: ``(batch, tokens)`` to ``(batch, depth)``, and a rank-1
    input, one sample's tokens, to ``(depth,)`` (as Keras). Indices outside ``[0, depth)``
    contribute nothing (a masked token).
    """
    indices = numpy.asarray(indices)
    if indices.ndim == 0:
        indices = indices[None]
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        out = numpy.zeros(indices.shape + (depth,), dtype=dtype)
        valid = (indices >= 0) & (indices < depth)
        where = numpy.nonzero(valid)
        out[where + (indices[where],)] = 1
        return out
    rows = indices.reshape(-1, indices.shape[-1])
    out = numpy.zeros((rows.shape[0], depth), dtype=dtype)
    valid = (rows >= 0) & (rows < depth)
    row_ids, col_ids = numpy.nonzero(valid)
    if output_mode == "multi_hot":
        out[row_ids, rows[row_ids, col_ids]] = 1
    else:
        if count_weights is None:
            amounts = numpy.ones(len(row_ids), dtype=dtype)
        else:
            weights = numpy.broadcast_to(numpy.asarray(count_weights), indices.shape)
            amounts = weights.reshape(rows.shape)[row_ids, col_ids].astype(dtype)
        numpy.add.at(out, (row_ids, rows[row_ids, col_ids]), amounts)
    return out.reshape(indices.shape[:-1] + (depth,))


def encoded_shape(input_shape: tuple, output_mode: str, depth) -> tuple:
    """The output shape of ``encode_categorical`` for inputs of ``input_shape``."""
    input_shape = tuple(input_shape)
    if output_mode == "int":
        return input_shape
    if len(input_shape) == 0:
        return (depth,)
    if output_mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            return input_shape[:-1] + (depth,)
        return input_shape + (depth,)
    return input_shape[:-1] + (depth,)


def _check_mode(layer: str, output_mode, allowed: tuple) -> str:
    if output_mode == "binary":
        output_mode = "multi_hot"
    if output_mode == "tf-idf":
        output_mode = "tf_idf"
    if output_mode not in allowed:
        raise ValueError(
            f"{layer} output_mode must be one of {', '.join(map(repr, allowed))}; "
            f"got {output_mode!r}."
        )
    return output_mode


def _refuse_sparse(layer: str, sparse) -> None:
    if sparse:
        raise ValueError(
            f"{layer} sparse=True is not supported: axonal has no sparse tensors; the outputs "
            "are dense arrays (leave sparse=False)."
        )


def _positive_int(layer: str, what: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < minimum:
        raise ValueError(f"{layer} {what} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _adapt_batches(data, steps: int | None):
    """The batches ``adapt`` reads: an array (or list) is one batch; an iterable yields many
    (``(x, y)`` pairs give their ``x``)."""
    if isinstance(data, (numpy.ndarray, list, tuple, Tensor)) or hasattr(data, "__array__"):
        yield data.data if isinstance(data, Tensor) else data, True
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise ValueError(
            f"adapt() expects an array or an iterable of batches, got {type(data).__name__}."
        ) from None
    for index, batch in enumerate(iterator):
        if steps is not None and index >= int(steps):
            break
        if isinstance(batch, tuple) and len(batch) in (2, 3):
            batch = batch[0]
        yield batch, False


class PreprocessingLayer(Layer):
    """Base of the preprocessing layers: inputs are taken as they are (strings, integers or
    floats, never cast to the layer dtype), and outputs are constants, so no gradient flows
    into them, as in Keras, whose preprocessing layers are not differentiable."""

    def _as_input_tensor(self, x) -> Tensor:
        if isinstance(x, Tensor):
            return x
        return wrap(numpy.asarray(x))

    def _converted(self, inputs):
        # a plain list is the data (``layer(["a", "b"])``, as Keras takes it), not several inputs
        if isinstance(inputs, (list, tuple)) and not any(
            isinstance(x, (Tensor, numpy.ndarray)) for x in inputs
        ):
            return wrap(numpy.asarray(inputs))
        return super()._converted(inputs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        return wrap(self.compute(inputs.data))

    def infer(self, inputs):
        return self.compute(numpy.asarray(inputs))

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        """The layer's output for the array ``values``."""
        raise NotImplementedError


class IndexLookup(PreprocessingLayer):
    """Shared machinery of ``StringLookup`` and ``IntegerLookup``: a vocabulary of tokens
    mapped to consecutive indices after the mask and OOV slots (Keras's ``IndexLookup``)."""

    vocabulary_dtype = "string"

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: Any = None,
        oov_token: Any = None,
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        vocabulary_size: int | None = None,
        **kwargs,
    ):
        layer = type(self).__name__
        if max_tokens is not None and (
            isinstance(max_tokens, bool)
            or not isinstance(max_tokens, (int, numpy.integer))
            or max_tokens <= 1
        ):
            raise ValueError(
                f"{layer} max_tokens must be None or an integer > 1; got {max_tokens!r}."
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{layer} pad_to_max_tokens=True needs max_tokens to be set.")
        num_oov_indices = _positive_int(layer, "num_oov_indices", num_oov_indices, 0)
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(
                f"{layer} oov_method must be 'floormod' or 'farmhash'; got {oov_method!r}."
            )
        if salt is not None:
            if self.vocabulary_dtype != "string" and oov_method != "farmhash":
                raise ValueError(f"{layer} salt can only be used with oov_method='farmhash'.")
            if isinstance(salt, (list, tuple)) and len(salt) == 2:
                salt = [int(s) for s in salt]
            elif isinstance(salt, int) and not isinstance(salt, bool):
                salt = [salt, salt]
            else:
                raise ValueError(f"{layer} salt must be an int or a pair of ints; got {salt!r}.")
        output_mode = _check_mode(layer, output_mode, ("int",) + ENCODED_MODES + ("tf_idf",))
        if invert and output_mode != "int":
            raise ValueError(f"{layer} invert=True needs output_mode='int'; got {output_mode!r}.")
        _refuse_sparse(layer, sparse)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{layer} idf_weights are only used with output_mode='tf_idf'.")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(
                f"{layer} with output_mode='tf_idf' and a vocabulary needs idf_weights too."
            )
        # the size a saved layer had (Keras's config key); the vocabulary sets it again
        self._frozen_vocab_size = vocabulary_size
        has_input = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("dtype", None)
        if invert:
            dtype = "string" if self.vocabulary_dtype == "string" else "int64"
        else:
            dtype = "int64" if output_mode == "int" else floatx()
        super().__init__(dtype=dtype, **kwargs)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = num_oov_indices
        self.mask_token = self._token(mask_token, "mask_token")
        self.oov_token = self._token(oov_token, "oov_token")
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.oov_method = oov_method
        self.salt = salt
        self._has_input_vocabulary = bool(has_input)
        if self.pad_to_max_tokens and output_mode != "int":
            weight_budget.check_probe((self.max_tokens,))
        self.input_vocabulary = None
        self.input_idf_weights = None
        self._tokens: list = []
        self._index: dict = {}
        self.idf_weights = None
        self._counts: collections.Counter = collections.Counter()
        self._document_counts: collections.Counter = collections.Counter()
        self._num_documents = 0
        if vocabulary is not None:
            self.input_vocabulary = self._vocabulary_list(vocabulary)
            self.input_idf_weights = (
                None if idf_weights is None else [float(w) for w in numpy.ravel(idf_weights)]
            )
            self.set_vocabulary(self.input_vocabulary, self.input_idf_weights)

    # ------------------------------------------------------------ tokens
    def _token(self, value, what: str):
        if value is None:
            return None
        if self.vocabulary_dtype == "string":
            if not isinstance(value, str):
                raise ValueError(f"{type(self).__name__} {what} must be a string; got {value!r}.")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
            raise ValueError(f"{type(self).__name__} {what} must be an integer; got {value!r}.")
        return int(value)

    def _vocabulary_list(self, vocabulary) -> list:
        if isinstance(vocabulary, str):
            raise ValueError(
                f"{type(self).__name__} vocabulary must be a list of tokens; a vocabulary file "
                "path is not supported (read the file and pass its lines)."
            )
        array = numpy.asarray(vocabulary.data if isinstance(vocabulary, Tensor) else vocabulary)
        if array.ndim != 1:
            raise ValueError(
                f"{type(self).__name__} vocabulary must be one-dimensional; got shape "
                f"{array.shape}."
            )
        if self.vocabulary_dtype == "string":
            return [str(v) for v in string_array(array).tolist()]
        if array.size and array.dtype.kind not in "iu":
            raise ValueError(
                f"{type(self).__name__} vocabulary must hold integers; got dtype {array.dtype}."
            )
        return [int(v) for v in array.tolist()]

    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _special_tokens(self) -> list:
        return [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices

    # ------------------------------------------------------------ vocabulary
    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Replace the vocabulary (and, for ``tf_idf``, the IDF weights), as Keras does.

        The mask and OOV tokens may lead the list in their usual order, or be left out.

        Example:
            >>> layer = StringLookup()
            >>> layer.set_vocabulary(["a", "b", "c"])
        """
        layer = f"Layer '{self.name}' ({type(self).__name__})"
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{layer}: idf_weights must be set when output_mode is 'tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{layer}: idf_weights are only used with output_mode='tf_idf'.")
        vocabulary = self._vocabulary_list(vocabulary)
        if not vocabulary:
            raise ValueError(f"{layer}: cannot set an empty vocabulary.")
        special = self._special_tokens()
        found_special = special == vocabulary[: len(special)]
        tokens = vocabulary[len(special) :] if found_special else vocabulary
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{layer}: the vocabulary repeats the terms {repeated[:10]}.")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(
                f"{layer}: the mask token {self.mask_token!r} is in the vocabulary at an "
                f"unexpected place; leave it out, or start the vocabulary with {special}."
            )
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(
                f"{layer}: the OOV token {self.oov_token!r} is in the vocabulary at an "
                f"unexpected place; leave it out, or start the vocabulary with {special}."
            )
        size = self._token_start_index() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                f"{layer}: the vocabulary has {size} entries with the special tokens, more than "
                f"max_tokens={self.max_tokens}."
            )
        # a loaded file's vocabulary counts against the loader's budget
        weight_budget.check_table(f"{self.name}/vocabulary", len(tokens))
        weights = None
        if self.output_mode == "tf_idf":
            weights = numpy.asarray(idf_weights, dtype=floatx()).ravel()
            if len(weights) != len(vocabulary):
                raise ValueError(
                    f"{layer}: idf_weights has {len(weights)} entries, the vocabulary "
                    f"{len(vocabulary)}; they must be the same length."
                )
            if not found_special:
                front = numpy.full(self._token_start_index(), weights.mean(), dtype=floatx())
                weights = numpy.concatenate([front, weights])
        self._set_tokens(tokens, weights)

    def _set_tokens(self, tokens: list, weights) -> None:
        self._tokens = list(tokens)
        start = self._token_start_index()
        self._index = {token: start + i for i, token in enumerate(self._tokens)}
        if weights is not None:
            if self.pad_to_max_tokens:
                back = numpy.zeros(self.max_tokens - len(weights), dtype=floatx())
                weights = numpy.concatenate([weights, back])
            self.idf_weights = numpy.asarray(weights, dtype=floatx())
        self._record_vocabulary_size()

    def _record_vocabulary_size(self) -> None:
        size = self.vocabulary_size()
        if (
            self.output_mode != "int"
            and not self.pad_to_max_tokens
            and self._frozen_vocab_size is not None
            and self.built
            and size != self._frozen_vocab_size
        ):
            raise RuntimeError(
                f"Layer '{self.name}' ({type(self).__name__}): with output_mode="
                f"'{self.output_mode}' and pad_to_max_tokens=False the vocabulary size cannot "
                f"change after the layer is called; it was {self._frozen_vocab_size}, now {size}."
            )
        self._frozen_vocab_size = size

    @property
    def has_input_vocabulary(self) -> bool:
        """Whether the vocabulary came with the constructor (then ``adapt`` is refused)."""
        return self._has_input_vocabulary

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The vocabulary, index by index: with the special tokens, ``vocab[i]`` is the token
        that maps to index ``i``.

        Example:
            >>> StringLookup(vocabulary=["a", "b"]).get_vocabulary()
            ['[UNK]', 'a', 'b']
        """
        vocab = self._special_tokens() + list(self._tokens)
        if not include_special_tokens:
            return vocab[self._token_start_index() :]
        return vocab

    def vocabulary_size(self) -> int:
        """The number of indices, the mask and OOV slots included."""
        return len(self._tokens) + self._token_start_index()

    # ------------------------------------------------------------ adapt
    def adapt(self, data, steps: int | None = None) -> None:
        """Learn the vocabulary from ``data``: tokens sorted by frequency, most frequent first,
        ties broken as Keras does (the greater token first); at most ``max_tokens`` indices.

        Args:
            data: an array of tokens (rows are documents for ``tf_idf``), or an iterable of
                such batches.
            steps: for an iterable, the number of batches to read (default: all).

        Example:
            >>> layer = StringLookup()
            >>> layer.adapt(["b", "a", "b"])
            >>> layer.get_vocabulary()
            ['[UNK]', 'b', 'a']
        """
        if self._has_input_vocabulary:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) has a fixed vocabulary (the "
                "vocabulary argument or set_vocabulary()); adapt() cannot replace it."
            )
        self.reset_state()
        for batch, whole in _adapt_batches(data, steps):
            values = self._adapt_values(batch)
            if whole and values.ndim == 1:
                # an array given whole holds one token per sample (Keras expands its last axis)
                values = values[:, None]
            self.update_state(values)
        self.finalize_state()

    def _adapt_values(self, batch) -> numpy.ndarray:
        if self.vocabulary_dtype == "string":
            return string_array(batch)
        array = numpy.asarray(batch)
        if array.dtype.kind not in "iub" and not (
            array.dtype.kind == "f" and numpy.all(array == numpy.round(array))
        ):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): adapt() expects integers; got "
                f"an array of dtype {array.dtype}."
            )
        return array.astype("int64")

    def update_state(self, data) -> None:
        """Count the tokens of one batch (``adapt`` calls this, then ``finalize_state``)."""
        values = self._adapt_values(data)
        if values.ndim == 0:
            values = values[None]
        if values.ndim == 1:
            # one batch of tokens is one row (one document), as in Keras's update_state
            values = values[None, :]
        distinct, counts = numpy.unique(values.ravel(), return_counts=True)
        self._counts.update(dict(zip(distinct.tolist(), counts.tolist(), strict=True)))
        if self.output_mode == "tf_idf":
            rows = values.reshape(values.shape[0], -1)
            for row in rows:
                self._document_counts.update(set(row.tolist()))
            self._num_documents += rows.shape[0]

    def update_rows(self, rows: list) -> None:
        """Count token rows of any lengths (documents: ``TextVectorization``'s split text)."""
        for row in rows:
            self._counts.update(row)
        if self.output_mode == "tf_idf":
            for row in rows:
                self._document_counts.update(set(row))
            self._num_documents += len(rows)

    def finalize_state(self) -> None:
        """Turn the counted tokens into the vocabulary (and IDF weights)."""
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                self._counts.pop(special, None)
        if not self._counts:
            return
        # count descending, then the token descending: Keras's reversed lexsort
        ranked = sorted(self._counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[: self.max_tokens - self._token_start_index()]
        tokens = [token for token, _ in ranked]
        weights = None
        if self.output_mode == "tf_idf":
            frequency = numpy.asarray([self._document_counts[t] for t in tokens], dtype="float64")
            idf = numpy.log(1.0 + self._num_documents / (1.0 + frequency)).astype(floatx())
            front = numpy.full(self._token_start_index(), idf.mean(), dtype=floatx())
            weights = numpy.concatenate([front, idf])
        weight_budget.check_table(f"{self.name}/vocabulary", len(tokens))
        self._set_tokens(tokens, weights)
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the counts of an ``adapt`` in progress."""
        self._counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._num_documents = 0

    # ------------------------------------------------------------ computing
    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def _input_values(self, values):
        if self.vocabulary_dtype == "string":
            return string_array(values)
        array = numpy.asarray(values)
        if array.dtype.kind == "f":
            array = array.astype("int64")
        elif array.dtype.kind not in "iub":
            raise ValueError(
                f"Layer '{self.name}' (IntegerLookup) expects integer inputs; got an array of "
                f"dtype {array.dtype}."
            )
        return array.astype("int64", copy=False)

    def _lookup(self, values: numpy.ndarray) -> numpy.ndarray:
        """The index of every value: vocabulary, mask (-1 outside ``int`` mode) or OOV."""
        if values.size == 0:
            return numpy.zeros(values.shape, dtype="int64")
        distinct, inverse = numpy.unique(values.ravel(), return_inverse=True)
        missing = -1
        indices = numpy.asarray(
            [self._index.get(v, missing) for v in distinct.tolist()], dtype="int64"
        )
        if self.mask_token is not None:
            indices[distinct == self.mask_token] = 0 if self.output_mode == "int" else -2
        oov = indices == missing
        if oov.any():
            if self.num_oov_indices == 0:
                found = distinct[oov][:5].tolist()
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): with num_oov_indices=0 every "
                    f"input must be in the vocabulary; found {found}. Set num_oov_indices=1."
                )
            start = self._oov_start_index()
            if self.num_oov_indices == 1:
                indices[oov] = start
            elif self.vocabulary_dtype != "string" and self.oov_method != "farmhash":
                indices[oov] = start + numpy.mod(distinct[oov], self.num_oov_indices)
            else:
                keys = distinct[oov].astype(str)
                indices[oov] = start + hash_to_buckets(keys, self.num_oov_indices, self.salt)
        # masked tokens (-2) drop out of the encodings, as Keras's out-of-range mask value does
        indices[indices == -2] = -1
        return indices[inverse].reshape(values.shape)

    def _invert(self, values) -> numpy.ndarray:
        array = numpy.asarray(values)
        if array.dtype.kind not in "iu" and not (
            array.dtype.kind == "f" and numpy.all(array == numpy.round(array))
        ):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) with invert=True expects integer "
                f"indices; got an array of dtype {array.dtype}."
            )
        array = array.astype("int64")
        start = self._token_start_index()
        table = self.get_vocabulary()
        if self.vocabulary_dtype == "string":
            lookup = numpy.asarray(table + [self.oov_token], dtype=object)
        else:
            oov = -1 if self.oov_token is None else self.oov_token
            lookup = numpy.asarray(table + [oov], dtype="int64")
        positions = numpy.where((array >= start) & (array < len(table)), array, len(table))
        if self.mask_token is not None:
            positions = numpy.where(array == 0, 0, positions)
        out = lookup[positions]
        if self.vocabulary_dtype == "string":
            out = out.astype(str)
        return out

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        if self.invert:
            return self._invert(values)
        if self.output_mode != "int" and not self.pad_to_max_tokens and not self._tokens:
            raise RuntimeError(
                f"Layer '{self.name}' ({type(self).__name__}) with output_mode="
                f"'{self.output_mode}' needs its vocabulary before it is called: pass "
                "vocabulary= or call adapt()."
            )
        indices = self._lookup(self._input_values(values))
        if self.output_mode == "int":
            return indices
        if self.output_mode == "tf_idf":
            counts = encode_categorical(indices, "count", self._depth(), floatx())
            return counts * self.idf_weights
        return encode_categorical(indices, self.output_mode, self._depth(), floatx())

    def build(self, input_shape: tuple) -> None:
        self.built = True

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        # a learned vocabulary (adapt, or a reloaded adapt) is saved in the config as well
        adapted = not self._has_input_vocabulary and bool(self._tokens)
        vocabulary = self.input_vocabulary if not adapted else list(self._tokens)
        idf_weights = self.input_idf_weights
        if adapted and self.output_mode == "tf_idf":
            # the learned weights of the tokens only: set_vocabulary re-derives the padding
            start = self._token_start_index()
            idf_weights = self.idf_weights[start : start + len(self._tokens)].tolist()
        config.update(
            invert=self.invert,
            max_tokens=self.max_tokens,
            num_oov_indices=self.num_oov_indices,
            oov_token=self.oov_token,
            mask_token=self.mask_token,
            output_mode=self.output_mode,
            sparse=False,
            pad_to_max_tokens=self.pad_to_max_tokens,
            vocabulary_dtype=self.vocabulary_dtype,
            idf_weights=idf_weights,
            vocabulary=vocabulary,
            vocabulary_size=self._frozen_vocab_size,
            oov_method=self.oov_method,
            salt=self.salt,
        )
        if adapted:
            # the vocabulary was learned, not given: adapt() stays allowed after a reload
            config["has_input_vocabulary"] = False
        return config


@register("layer", "StringLookup")
class StringLookup(IndexLookup):
    """Maps strings to integer indices from a vocabulary (given, or learned by ``adapt``).

    Index layout as in Keras: the mask token (if any, in ``int`` mode) at 0, then
    ``num_oov_indices`` OOV slots, then the vocabulary. With several OOV slots an unknown string
    goes to FarmHash-Fingerprint64 (SipHash with ``salt``) modulo the slot count, Keras's bins.

    Args:
        max_tokens: the most indices (special tokens included); None for no limit.
        num_oov_indices: slots for out-of-vocabulary strings (0: an unknown string is an error).
        mask_token: a string mapped to 0 (and dropped from encodings); None for no mask.
        oov_token: the string ``invert`` returns for OOV indices.
        vocabulary: a list of strings; or None, then ``adapt`` learns it.
        idf_weights: with ``output_mode='tf_idf'`` and a vocabulary, the IDF of each term.
        invert: map indices back to strings.
        output_mode: ``'int'``, ``'one_hot'``, ``'multi_hot'``, ``'count'`` or ``'tf_idf'``.
        pad_to_max_tokens: encode to ``max_tokens`` columns whatever the vocabulary size.
        sparse: must be False (axonal has no sparse tensors).
        encoding: the text encoding of byte inputs (UTF-8 only).

    Example:
        >>> StringLookup(vocabulary=["a", "b"])(np.array([["a"], ["z"]])).data
        array([[1],
               [0]])
    """

    vocabulary_dtype = "string"
    string_inputs = True

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        salt: Any = None,
        **kwargs,
    ):
        if str(encoding).lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise ValueError(f"StringLookup encoding must be 'utf-8'; got {encoding!r}.")
        kwargs.pop("vocabulary_dtype", None)
        kwargs.pop("oov_method", None)
        self.encoding = "utf-8"
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            name=name,
            salt=salt,
            **kwargs,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        del config["vocabulary_dtype"]
        config["encoding"] = self.encoding
        return config


@register("layer", "IntegerLookup")
class IntegerLookup(IndexLookup):
    """Maps integer ids (any values) to consecutive indices from a vocabulary.

    As ``StringLookup``, for integers: the OOV token defaults to -1, and with several OOV slots
    an unknown id goes to ``id mod num_oov_indices`` (``oov_method='floormod'``) or to its
    decimal string's FarmHash bucket (``'farmhash'``).

    Args:
        max_tokens, num_oov_indices, vocabulary, idf_weights, invert, output_mode,
        pad_to_max_tokens, sparse: as in ``StringLookup``.
        mask_token: an integer mapped to 0; None for no mask.
        oov_token: the integer ``invert`` returns for OOV indices (default -1).
        vocabulary_dtype: must be ``'int64'``.
        oov_method: ``'floormod'`` or ``'farmhash'``.
        salt: the SipHash key for ``oov_method='farmhash'``.

    Example:
        >>> IntegerLookup(vocabulary=[12, 36])(np.array([[12], [7]])).data
        array([[1],
               [0]])
    """

    vocabulary_dtype = "int64"
    integer_inputs = True

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        name: str | None = None,
        **kwargs,
    ):
        if vocabulary_dtype != "int64":
            raise ValueError(
                f"IntegerLookup vocabulary_dtype must be 'int64'; got {vocabulary_dtype!r}."
            )
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            oov_method=oov_method,
            salt=salt,
            name=name,
            **kwargs,
        )


@register("layer", "CategoryEncoding")
class CategoryEncoding(PreprocessingLayer):
    """Encodes integer indices in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of categories (the output width).
        output_mode: ``'multi_hot'`` (default), ``'one_hot'`` or ``'count'``.
        sparse: must be False.

    Call arguments:
        count_weights: with ``output_mode='count'``, a weight per input value (same shape).

    Example:
        >>> CategoryEncoding(num_tokens=4, output_mode="count")(np.array([[0, 1, 1]])).data
        array([[1., 2., 0., 0.]], dtype=float32)
    """

    integer_inputs = True

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        output_mode = _check_mode("CategoryEncoding", output_mode, ENCODED_MODES)
        if num_tokens is None:
            raise ValueError(
                "CategoryEncoding needs num_tokens; when the number of tokens is not known "
                "beforehand, use IntegerLookup instead."
            )
        self.num_tokens = _positive_int("CategoryEncoding", "num_tokens", num_tokens)
        weight_budget.check_probe((self.num_tokens,))
        _refuse_sparse("CategoryEncoding", sparse)
        self.output_mode = output_mode
        self.sparse = False

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def call(self, inputs: Tensor, count_weights=None, training: bool = False) -> Tensor:
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"Layer '{self.name}' (CategoryEncoding): count_weights is only used with "
                    f"output_mode='count'; got output_mode={self.output_mode!r}."
                )
            count_weights = numpy.asarray(
                count_weights.data if isinstance(count_weights, Tensor) else count_weights,
                dtype=self.dtype,
            )
        return wrap(self._encode(inputs.data, count_weights))

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        return self._encode(values, None)

    def _encode(self, values, count_weights) -> numpy.ndarray:
        array = numpy.asarray(values)
        if array.dtype.kind not in "iub":
            if array.dtype.kind != "f" or not numpy.all(array == numpy.round(array)):
                raise ValueError(
                    f"Layer '{self.name}' (CategoryEncoding) expects integer indices; got an "
                    f"array of dtype {array.dtype}."
                )
        array = array.astype("int64")
        if array.size and (array.min() < 0 or array.max() >= self.num_tokens):
            raise ValueError(
                f"Layer '{self.name}' (CategoryEncoding) expects indices in [0, "
                f"{self.num_tokens}); got values from {array.min()} to {array.max()}."
            )
        return encode_categorical(
            array, self.output_mode, self.num_tokens, self.dtype, count_weights
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode, sparse=False)
        return config


@register("layer", "Hashing")
class Hashing(PreprocessingLayer):
    """Hashes values (strings, integers, floats) into ``num_bins`` bins with Keras's hashes.

    Strings are hashed with FarmHash Fingerprint64 (``tf.strings.to_hash_bucket_fast``), or
    with SipHash-2-4 keyed by ``salt`` (``to_hash_bucket_strong``); numbers are hashed as their
    decimal strings (floats truncated to integers first), so the bins equal Keras's.

    Args:
        num_bins: the number of bins, the mask bin included.
        mask_value: a value sent to bin 0 (the others then share bins 1..num_bins-1).
        salt: an int or a pair of ints: use the keyed SipHash.
        output_mode: ``'int'`` (default), ``'one_hot'``, ``'multi_hot'`` or ``'count'``.
        sparse: must be False.

    Example:
        >>> Hashing(num_bins=3)(np.array([["A"], ["B"]])).data
        array([[1],
               [0]])
    """

    string_inputs = True

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: Any = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs,
    ):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else floatx()
        super().__init__(**kwargs)
        if num_bins is None:
            raise ValueError("Hashing num_bins must be a positive integer; got None.")
        self.num_bins = _positive_int("Hashing", "num_bins", num_bins)
        output_mode = _check_mode("Hashing", output_mode, ("int",) + ENCODED_MODES)
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError(
                "Hashing with output_mode='int' needs dtype 'int32' or 'int64'; got "
                f"{self.dtype!r}."
            )
        if output_mode != "int":
            weight_budget.check_probe((self.num_bins,))
        _refuse_sparse("Hashing", sparse)
        self.output_mode = output_mode
        self.sparse = False
        self.mask_value = mask_value
        self.salt = None
        if salt is not None:
            if isinstance(salt, (list, tuple)) and len(salt) == 2:
                self.salt = [int(s) for s in salt]
            elif isinstance(salt, int) and not isinstance(salt, bool):
                self.salt = [salt, salt]
            else:
                raise ValueError(f"Hashing salt must be an int or a pair of ints; got {salt!r}.")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        array = numpy.asarray(values)
        if self.output_mode == "one_hot" and array.ndim and array.shape[-1] == 1:
            array = array[..., 0]
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = array == self.mask_value
        if array.dtype.kind == "f":
            array = array.astype("int64")
        if array.dtype.kind in "iub":
            keys = array.astype("int64").astype(str)
        else:
            keys = string_array(array)
        hashed = hash_to_buckets(keys, bins, self.salt)
        if mask is not None:
            hashed = numpy.where(mask, 0, hashed + 1)
        if self.output_mode == "int":
            return hashed.astype(self.dtype)
        if self.output_mode == "one_hot":
            return encode_categorical(hashed[..., None], "one_hot", self.num_bins, self.dtype)
        return encode_categorical(hashed, self.output_mode, self.num_bins, self.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_bins=self.num_bins,
            salt=self.salt,
            mask_value=self.mask_value,
            output_mode=self.output_mode,
            sparse=False,
        )
        return config


def _summarize(values: numpy.ndarray, epsilon: float) -> numpy.ndarray:
    """A quantile summary of ``values``: every ``step``-th sorted value, weighted by ``step``
    (Keras's approximate-quantile scheme, ``1 / epsilon`` points per batch)."""
    ordered = numpy.sort(values.ravel())
    step = max(ordered.size / (1.0 / epsilon), 1)
    points = ordered[int(step - 1) :: int(step)]
    return numpy.stack([points, numpy.full_like(points, step)])


def _compress(summary: numpy.ndarray, epsilon: float) -> numpy.ndarray:
    """Resample a summary at the ``epsilon`` quantile grid when it has more points than that."""
    if summary.shape[1] * epsilon < 1:
        return summary
    grid = epsilon + numpy.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    fractions = cumulative / cumulative[-1]
    points = numpy.interp(grid, fractions, summary[0])
    weights = numpy.interp(grid, fractions, cumulative)
    weights = weights - numpy.concatenate(([0.0], weights[:-1]))
    return numpy.stack((points, weights)).astype("float32")


@register("layer", "Discretization")
class Discretization(PreprocessingLayer):
    """Buckets continuous values by ``bin_boundaries`` (given, or quantiles from ``adapt``).

    Value ``x`` goes to bin ``i`` where ``boundaries[i-1] <= x < boundaries[i]``
    (``numpy.digitize``), so there are ``len(bin_boundaries) + 1`` bins.

    Args:
        bin_boundaries: sorted boundaries; or None with ``num_bins``, then ``adapt`` learns them.
        num_bins: the number of bins ``adapt`` makes.
        epsilon: the error tolerance of ``adapt``'s approximate quantiles (default 0.01).
        output_mode: ``'int'`` (default, int32 bins), ``'one_hot'``, ``'multi_hot'``, ``'count'``.
        sparse: must be False.

    Example:
        >>> Discretization(bin_boundaries=[0.0, 1.0])(np.array([[-1.0, 0.5, 2.0]])).data
        array([[0, 1, 2]], dtype=int32)
    """

    def __init__(
        self,
        bin_boundaries: Any = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        dtype: Any = None,
        name: str | None = None,
        **kwargs,
    ):
        output_mode = _check_mode("Discretization", output_mode, ("int",) + ENCODED_MODES)
        if dtype is None:
            dtype = "int32" if output_mode == "int" else floatx()
        super().__init__(dtype=dtype, name=name, **kwargs)
        _refuse_sparse("Discretization", sparse)
        if num_bins is not None and (isinstance(num_bins, bool) or int(num_bins) < 0):
            raise ValueError(f"Discretization num_bins must be >= 0; got {num_bins!r}.")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Discretization takes num_bins or bin_boundaries, not both; got "
                f"num_bins={num_bins} and bin_boundaries={bin_boundaries}."
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError("Discretization needs num_bins (then adapt()) or bin_boundaries.")
        if not 0 < float(epsilon) <= 1:
            raise ValueError(f"Discretization epsilon must be in (0, 1]; got {epsilon!r}.")
        self.bin_boundaries = None
        if bin_boundaries is not None:
            self._set_boundaries(bin_boundaries)
        self.num_bins = None if num_bins is None else int(num_bins)
        if self.num_bins is not None:
            weight_budget.check_probe((self.num_bins,))
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self.summary = numpy.zeros((2, 0), dtype="float32")

    def _set_boundaries(self, boundaries) -> None:
        array = numpy.asarray(boundaries, dtype="float64").ravel()
        if not numpy.isfinite(array).all() or (numpy.diff(array) < 0).any():
            raise ValueError(
                f"Discretization bin_boundaries must be finite and sorted; got {boundaries!r}."
            )
        weight_budget.check_table(f"{getattr(self, 'name', 'discretization')}/bins", array.size)
        self.bin_boundaries = [float(b) for b in array]

    def adapt(self, data, steps: int | None = None) -> None:
        """Learn ``num_bins`` quantile bins from ``data`` (an array, or an iterable of batches).

        Example:
            >>> layer = Discretization(num_bins=4)
            >>> layer.adapt(np.arange(100.0))
        """
        if self.num_bins is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) was created with bin_boundaries; "
                "create it with num_bins to adapt it."
            )
        self.reset_state()
        for batch, _ in _adapt_batches(data, steps):
            self.update_state(batch)
        self.finalize_state()

    def update_state(self, data) -> None:
        """Add one batch to the quantile summary."""
        values = numpy.asarray(data, dtype="float32")
        merged = numpy.concatenate((_summarize(values, self.epsilon), self.summary), axis=1)
        merged = merged[:, numpy.argsort(merged[0], kind="stable")]
        self.summary = _compress(merged, self.epsilon)

    def finalize_state(self) -> None:
        """Turn the summary into ``num_bins - 1`` boundaries."""
        if self.num_bins is None:
            return
        boundaries = _compress(self.summary, 1.0 / self.num_bins)[0, :-1]
        self.bin_boundaries = [float(b) for b in boundaries]

    def reset_state(self) -> None:
        """Forget the summary of an ``adapt`` in progress."""
        self.summary = numpy.zeros((2, 0), dtype="float32")

    def _depth(self) -> int:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return encoded_shape(input_shape, self.output_mode, self._depth())

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        if self.bin_boundaries is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) has no bin boundaries: pass "
                "bin_boundaries or call adapt() before using it."
            )
        array = numpy.asarray(values)
        if array.dtype.kind not in "iubf":
            raise ValueError(
                f"Layer '{self.name}' (Discretization) expects numbers; got dtype {array.dtype}."
            )
        # compare in the input's float type, as Keras does with its float32 boundaries
        float_type = array.dtype if array.dtype.kind == "f" else numpy.dtype(floatx())
        boundaries = numpy.asarray(self.bin_boundaries, dtype=float_type)
        indices = numpy.digitize(array.astype(float_type, copy=False), boundaries)
        if self.output_mode == "int":
            return indices.astype(self.dtype)
        return encode_categorical(indices, self.output_mode, self._depth(), self.dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            bin_boundaries=self.bin_boundaries,
            num_bins=self.num_bins,
            epsilon=self.epsilon,
            output_mode=self.output_mode,
            sparse=False,
        )
        return config

    @classmethod
    def from_config(cls, config: dict) -> Discretization:
        config = dict(config)
        boundaries = config.get("bin_boundaries")
        if boundaries is not None and config.get("num_bins") is not None:
            # an adapted layer: rebuild it with num_bins, then restore what adapt learned
            config.pop("bin_boundaries")
            layer = cls(**config)
            layer._set_boundaries(boundaries)
            return layer
        return cls(**config)


__all__ = [
    "CategoryEncoding",
    "Discretization",
    "Hashing",
    "IntegerLookup",
    "StringLookup",
    "encode_categorical",
    "string_array",
]
