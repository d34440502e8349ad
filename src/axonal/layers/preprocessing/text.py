"""``TextVectorization``: raw strings to token indices or bag-of-words vectors (Keras 3).

Standardize (lower-case, strip punctuation), split into tokens, optionally form n-grams, then
look the tokens up in a vocabulary (a ``StringLookup`` with ``""`` as the mask token). The
vocabulary and IDF weights live in the config, so they travel with a saved model.
"""

from __future__ import annotations

import re
from typing import Any

import numpy

from axonal import registry
from axonal.backend import floatx
from axonal.layers.preprocessing.lookup import PreprocessingLayer, StringLookup, string_array
from axonal.registry import register
from axonal.tensor import Tensor

# Keras strips these (the ASCII punctuation of its regex)
_PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
_STRIP_TABLE = str.maketrans("", "", _PUNCTUATION)
# tf.strings.lower lowers ASCII letters only (no encoding given)
_LOWER_TABLE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# tf.strings.split splits on ASCII whitespace
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")

STANDARDIZE_MODES = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT_MODES = ("whitespace", "character")


def _resolve_callable(value, what: str):
    """A standardize/split argument: a mode name, None, a callable, or a registered function's
    name (how a saved config names a callable)."""
    if value is None or callable(value):
        return value
    modes = STANDARDIZE_MODES if what == "standardize" else SPLIT_MODES
    if isinstance(value, str) and value in modes:
        return value
    if isinstance(value, str):
        try:
            return registry.lookup("activation", value)
        except ValueError:
            pass
    raise ValueError(
        f"TextVectorization {what} must be one of {', '.join(map(repr, modes))}, None or a "
        f"callable; got {value!r}."
    )


def _callable_name(value, what: str):
    """The config value of a standardize/split argument: a callable must be registered (with
    ``axonal.saving.register_serializable``) to be saved."""
    if value is None or isinstance(value, str):
        return value
    name = getattr(value, "__name__", None)
    try:
        if name is not None and registry.lookup("activation", name) is value:
            return name
    except ValueError:
        pass
    raise ValueError(
        f"TextVectorization {what}={value!r} cannot be saved: register the function with "
        "@axonal.saving.register_serializable() so the config can name it."
    )


@register("layer", "TextVectorization")
class TextVectorization(PreprocessingLayer):
    """Turns strings into token indices (``int``) or vectors (``multi_hot``/``count``/``tf_idf``).

    Each string is standardized, split into tokens, expanded to n-grams and looked up in the
    vocabulary. In ``int`` mode index 0 is padding (the mask token ``""``) and 1 is the OOV token
    ``"[UNK]"``; rows are padded with 0 to the longest row, or cut/padded to
    ``output_sequence_length``.

    Args:
        max_tokens: the most vocabulary entries (padding and OOV included); None for no limit.
        standardize: ``'lower_and_strip_punctuation'`` (default), ``'lower'``,
            ``'strip_punctuation'``, None, or a callable on an array of strings.
        split: ``'whitespace'`` (default), ``'character'``, None, or a callable taking a 1-D
            array of strings and returning a list of token lists.
        ngrams: None, an int n (all 1..n-grams) or a tuple of widths.
        output_mode: ``'int'`` (default), ``'multi_hot'``, ``'count'`` or ``'tf_idf'``.
        output_sequence_length: in ``int`` mode, the length every row is padded or cut to.
        pad_to_max_tokens: encode to ``max_tokens`` columns whatever the vocabulary size.
        vocabulary: a list of tokens; or None, then ``adapt`` learns it from text.
        idf_weights: with ``tf_idf`` and a vocabulary, the IDF of each term.
        sparse, ragged: must be False (axonal has no sparse or ragged tensors).
        encoding: the text encoding of byte inputs (UTF-8 only).

    Example:
        >>> layer = TextVectorization(output_sequence_length=4)
        >>> layer.adapt(["the cat sat", "the dog"])
        >>> layer(np.array(["The cat!"])).data
        array([[2, 5, 0, 0]])
    """

    string_inputs = True

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: Any = "lower_and_strip_punctuation",
        split: Any = "whitespace",
        ngrams: Any = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        vocabulary_size: int | None = None,
        **kwargs,
    ):
        if sparse:
            raise ValueError(
                "TextVectorization sparse=True is not supported: axonal has no sparse tensors."
            )
        if ragged:
            raise ValueError(
                "TextVectorization ragged=True is not supported: axonal has no ragged tensors; "
                "rows are padded with 0 (set output_sequence_length to fix their length)."
            )
        standardize = _resolve_callable(standardize, "standardize")
        split = _resolve_callable(split, "split")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        allowed = ("int", "one_hot", "multi_hot", "count", "tf_idf")
        if output_mode not in allowed:
            raise ValueError(
                f"TextVectorization output_mode must be one of {', '.join(map(repr, allowed))}; "
                f"got {output_mode!r}."
            )
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (
            ngrams is None
            or (isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1)
            or (isinstance(ngrams, tuple) and all(isinstance(n, int) and n >= 1 for n in ngrams))
        ):
            raise ValueError(
                f"TextVectorization ngrams must be None, a positive int or a tuple of them; "
                f"got {ngrams!r}."
            )
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(
                    "TextVectorization output_sequence_length is only used with output_mode="
                    f"'int'; got output_mode={output_mode!r}."
                )
            if (
                isinstance(output_sequence_length, bool)
                or not isinstance(output_sequence_length, (int, numpy.integer))
                or output_sequence_length < 1
            ):
                raise ValueError(
                    "TextVectorization output_sequence_length must be None or a positive int; "
                    f"got {output_sequence_length!r}."
                )
        if str(encoding).lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise ValueError(f"TextVectorization encoding must be 'utf-8'; got {encoding!r}.")
        has_input = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("dtype", None)
        dtype = "int64" if output_mode == "int" else floatx()
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.standardize = standardize
        self.split = split
        self._ngrams_arg = ngrams
        self.ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = (
            None if output_sequence_length is None else int(output_sequence_length)
        )
        self.encoding = "utf-8"
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens,
            mask_token="",
            output_mode=output_mode,
            has_input_vocabulary=has_input,
            vocabulary_size=vocabulary_size,
            name=f"{self.name}_lookup",
        )

    # ------------------------------------------------------------ text processing
    def _standardized(self, strings: numpy.ndarray) -> numpy.ndarray:
        if self.standardize is None:
            return strings
        if callable(self.standardize):
            out = self.standardize(strings)
            return string_array(out.data if isinstance(out, Tensor) else out)
        lower = self.standardize in ("lower", "lower_and_strip_punctuation")
        strip = self.standardize in ("strip_punctuation", "lower_and_strip_punctuation")
        flat = []
        for text in strings.ravel().tolist():
            if lower:
                text = text.translate(_LOWER_TABLE)
            if strip:
                text = text.translate(_STRIP_TABLE)
            flat.append(text)
        return numpy.asarray(flat, dtype=str).reshape(strings.shape)

    def _tokens(self, strings: numpy.ndarray) -> list[list[str]] | numpy.ndarray:
        """Rows of tokens (a list of lists), or the array itself when ``split`` is None."""
        if self.split is None:
            return strings
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError(
                    f"Layer '{self.name}' (TextVectorization) splits one string per sample: "
                    f"inputs must be (batch,) or (batch, 1); got shape {strings.shape}."
                )
            strings = strings[..., 0]
        strings = strings.reshape(-1) if strings.ndim == 0 else strings
        if self.split == "whitespace":
            rows = [[t for t in _WHITESPACE.split(text) if t] for text in strings.tolist()]
        elif self.split == "character":
            rows = [list(text) for text in strings.tolist()]
        else:
            rows = [[str(t) for t in row] for row in self.split(strings)]
        if self.ngrams is not None:
            rows = [self._with_ngrams(row) for row in rows]
        return rows

    def _with_ngrams(self, tokens: list[str]) -> list[str]:
        # all n-grams of the first width, then of the next (tf.strings.ngrams's order)
        out = []
        for width in self.ngrams:
            out.extend(" ".join(tokens[i : i + width]) for i in range(len(tokens) - width + 1))
        return out

    def _preprocess(self, inputs) -> list[list[str]] | numpy.ndarray:
        strings = string_array(inputs)
        return self._tokens(self._standardized(strings))

    @staticmethod
    def _padded(rows: list[list[str]], length: int | None) -> numpy.ndarray:
        width = max((len(r) for r in rows), default=0) if length is None else length
        out = numpy.full((len(rows), width), "", dtype=object)
        for i, row in enumerate(rows):
            row = row[:width]
            out[i, : len(row)] = row
        return out.astype(str) if out.size else numpy.zeros((len(rows), width), dtype="<U1")

    # ------------------------------------------------------------ vocabulary
    def adapt(self, data, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary (and IDF weights) from text: an array of strings, or an iterable
        of such batches.

        Example:
            >>> layer = TextVectorization()
            >>> layer.adapt(["the cat sat", "the dog"])
        """
        lookup = self._lookup_layer
        if lookup.has_input_vocabulary:
            raise ValueError(
                f"Layer '{self.name}' (TextVectorization) has a fixed vocabulary; adapt() "
                "cannot replace it."
            )
        lookup.reset_state()
        if isinstance(data, (numpy.ndarray, list, tuple, Tensor)):
            batches = [data.data if isinstance(data, Tensor) else data]
        else:
            try:
                batches = iter(data)
            except TypeError:
                raise ValueError(
                    f"Layer '{self.name}' (TextVectorization): adapt() expects strings or an "
                    f"iterable of batches of strings; got {type(data).__name__}."
                ) from None
        for index, batch in enumerate(batches):
            if steps is not None and index >= int(steps):
                break
            if isinstance(batch, tuple) and len(batch) in (2, 3):
                batch = batch[0]
            strings = string_array(batch)
            if strings.ndim == 0:
                strings = strings[None]
            if strings.ndim == 1:
                strings = strings[:, None]
            processed = self._preprocess(strings)
            if isinstance(processed, numpy.ndarray):
                lookup.update_state(processed)
            else:
                lookup.update_rows(processed)
        lookup.finalize_state()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The vocabulary, index by index (``""`` and ``"[UNK]"`` first)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of indices, padding and OOV included."""
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Replace the vocabulary (and, for ``tf_idf``, the IDF weights)."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------ computing
    def build(self, input_shape: tuple) -> None:
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            if self.split is None:
                return input_shape
            return (input_shape[0], self.output_sequence_length)
        if self.split is None:
            shape = input_shape + (1,) if len(input_shape) <= 1 else input_shape
        else:
            shape = (input_shape[0], None)
        return self._lookup_layer.compute_output_shape(shape)

    def compute(self, values: numpy.ndarray) -> numpy.ndarray:
        processed = self._preprocess(values)
        lookup = self._lookup_layer
        if isinstance(processed, numpy.ndarray):
            return lookup.compute(processed)
        if self.output_mode == "int":
            return lookup.compute(self._padded(processed, self.output_sequence_length))
        return lookup.compute(self._padded(processed, None))

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        lookup_config = self._lookup_layer.get_config()
        config.update(
            max_tokens=self._lookup_layer.max_tokens,
            standardize=_callable_name(self.standardize, "standardize"),
            split=_callable_name(self.split, "split"),
            ngrams=list(self._ngrams_arg)
            if isinstance(self._ngrams_arg, tuple)
            else self._ngrams_arg,
            output_mode=self.output_mode,
            output_sequence_length=self.output_sequence_length,
            pad_to_max_tokens=self._lookup_layer.pad_to_max_tokens,
            sparse=False,
            ragged=False,
            vocabulary=lookup_config["vocabulary"],
            idf_weights=lookup_config["idf_weights"],
            encoding=self.encoding,
            vocabulary_size=self.vocabulary_size(),
        )
        if "has_input_vocabulary" in lookup_config:
            config["has_input_vocabulary"] = False
        return config


__all__ = ["TextVectorization"]
