"""``GradientTape``: TensorFlow / Keras-style gradients for custom training loops.

The engine records a graph whenever an operation has an input that requires a gradient (every
trainable ``Variable`` does), so the tape does not record anything itself: it turns recording on
for its block, lets non-variable tensors be watched, and walks the graph from the target with
``autograd.gradients``, which returns gradients instead of accumulating them into ``.grad``.
The PyTorch-style ``loss.backward()`` path and its ``.grad`` attributes are left untouched.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from axonal import autograd
from axonal.backend import xp
from axonal.tensor import Tensor, Variable

_UNCONNECTED = ("none", "zero")

# the tapes whose `with` block is running now: tapes that record at the same time share a graph
_recording_tapes: weakref.WeakSet = weakref.WeakSet()


class GradientTape:
    """Records a computation so that ``gradient`` can differentiate it (``tf.GradientTape``).

    Inside the ``with`` block every operation on a trainable variable or a watched tensor is
    recorded (even inside ``no_grad``). ``gradient(target, sources)`` returns NumPy arrays, one
    per source, in the structure of ``sources``; ``optimizer.apply_gradients`` and
    ``optimizer.apply`` take them as they are. Gradients never accumulate: each call returns
    fresh arrays, and no ``.grad`` attribute (the ``loss.backward()`` path) is read or written.

    A tape is used once (``persistent=False``): the first ``gradient`` call frees the recorded
    graph and a second call raises. ``persistent=True`` keeps the graph so ``gradient`` can be
    called several times; it is freed when the target tensors are no longer referenced. Tapes
    that record at the same time (a GAN's generator and discriminator tapes) share one graph:
    it is freed by the last of them to compute its gradients.

    Args:
        persistent: allow several ``gradient`` calls on the same recording.
        watch_accessed_variables: when False, only tensors passed to ``watch`` get gradients
            (variables included); every other source is unconnected.

    Example:
        >>> with GradientTape() as tape:
        ...     loss = loss_fn(y, model(x, training=True))
        >>> grads = tape.gradient(loss, model.trainable_weights)
        >>> optimizer.apply_gradients(zip(grads, model.trainable_weights))
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self._recording = False
        self._used = False
        self._grad_state = None
        # id -> (tensor, its requires_grad before watch): put back when the block ends
        self._watched: dict[int, tuple[Tensor, bool]] = {}
        # tapes that recorded while this one did: the graph may be theirs too
        self._peers: weakref.WeakSet = weakref.WeakSet()

    def __enter__(self) -> GradientTape:
        if self._recording:
            raise RuntimeError("This GradientTape is already recording; do not nest it in itself.")
        self._grad_state = autograd.enable_grad()
        self._grad_state.__enter__()
        self._recording = True
        for other in _recording_tapes:
            other._peers.add(self)
            self._peers.add(other)
        _recording_tapes.add(self)
        return self

    def __exit__(self, *exc) -> None:
        self._recording = False
        _recording_tapes.discard(self)
        self._grad_state.__exit__(*exc)
        self._grad_state = None
        # a watched input goes back to being a constant: later operations on it record nothing
        for tensor, requires_grad in self._watched.values():
            tensor.requires_grad = requires_grad
        if self._used and not self.persistent:
            self._watched.clear()

    def watch(self, tensor) -> None:
        """Record operations on ``tensor`` (or each tensor of a list / tuple / dict of them).

        Needed for tensors that are not trainable variables, such as the input batch when
        taking gradients with respect to the inputs. Watch before using the tensor: operations
        that ran earlier were not recorded.

        Args:
            tensor: an ``axonal.Tensor`` of floats, or a nested list / tuple / dict of them.
                Wrap a NumPy array first: ``x = axonal.Tensor(x)``.
        """
        if not self._recording:
            raise RuntimeError(
                "GradientTape.watch() must be called inside the tape's `with` block."
            )
        for path, item in _flatten(tensor, "tensor"):
            if not isinstance(item, Tensor):
                raise TypeError(
                    f"GradientTape.watch() expects axonal Tensors, got {type(item).__name__} at "
                    f"{path}; wrap arrays first: x = axonal.Tensor(x)."
                )
            if item.data.dtype.kind not in "fc":
                raise TypeError(
                    f"GradientTape.watch() needs a floating-point tensor, got dtype "
                    f"{item.data.dtype} at {path}: integer tensors have no gradient."
                )
            if id(item) not in self._watched:
                self._watched[id(item)] = (item, item.requires_grad)
            item.requires_grad = True

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """A block inside the tape in which operations are not recorded (like ``no_grad``)."""
        if not self._recording:
            raise RuntimeError(
                "GradientTape.stop_recording() must be used inside the tape's `with` block."
            )
        with autograd.no_grad():
            yield

    def gradient(
        self,
        target,
        sources,
        output_gradients=None,
        unconnected_gradients: str = "none",
    ):
        """Gradients of ``target`` with respect to ``sources``, in the structure of ``sources``.

        Args:
            target: a Tensor computed in the tape (a scalar loss, usually), or a list / tuple of
                them, whose gradients are summed. A non-scalar target is summed too, unless
                ``output_gradients`` gives its weighting.
            sources: a Tensor (a ``Variable``, a watched tensor or one computed in the tape), or
                a list / tuple / dict of them, nested as you like.
            output_gradients: None, or one array (the target's shape, or None for ones) per
                target, in the structure of ``target``.
            unconnected_gradients: ``"none"`` (TensorFlow's default) gives None for a source the
                target does not depend on; ``"zero"`` gives zeros of the source's shape.

        Returns:
            The structure of ``sources`` with a NumPy array (the source's shape and dtype) or
            None in place of each tensor.

        Raises:
            RuntimeError: a second call on a tape that is not persistent.
            TypeError: ``target`` or ``sources`` hold something other than axonal Tensors.
            ValueError: an output gradient's shape differs from its target's.
        """
        if self._used and not self.persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can compute gradients only once: the first "
                "gradient() call freed the recorded graph. Create the tape with "
                "GradientTape(persistent=True) to call gradient() several times."
            )
        mode = str(getattr(unconnected_gradients, "value", unconnected_gradients)).lower()
        if mode not in _UNCONNECTED:
            raise ValueError(
                f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}."
            )
        targets = _flatten(target, "target")
        for path, item in targets:
            if not isinstance(item, Tensor):
                hint = ""
                if isinstance(item, (float, int, xp.ndarray, xp.generic)):
                    hint = (
                        " A number or array has no graph: pass the loss Tensor itself, not "
                        "float(loss) or loss.numpy()."
                    )
                raise TypeError(
                    f"GradientTape.gradient() expects the target to be an axonal Tensor "
                    f"computed inside the tape, got {type(item).__name__} at {path}.{hint}"
                )
        flat_sources = _flatten(sources, "sources")
        for path, item in flat_sources:
            if not isinstance(item, Tensor):
                raise TypeError(
                    f"GradientTape.gradient() expects sources to be axonal Tensors or "
                    f"Variables, got {type(item).__name__} at {path}."
                )
        seeds = self._seeds(targets, output_gradients)
        source_tensors = [item for _, item in flat_sources]
        if not self.watch_accessed_variables:
            # only what was watched counts; a placeholder stands in for the rest
            source_tensors = [
                item if id(item) in self._watched or not isinstance(item, Variable) else None
                for item in source_tensors
            ]
        live = [item for item in source_tensors if item is not None]
        # keep the graph while a tape that recorded alongside this one may still walk it
        retain = self.persistent or any(peer.persistent or not peer._used for peer in self._peers)
        found = autograd.gradients([item for _, item in targets], seeds, live, retain_graph=retain)
        self._used = True
        if not self.persistent and not self._recording:
            self._watched.clear()
        found = iter(found)
        results = []
        for item, (_, source) in zip(source_tensors, flat_sources, strict=True):
            grad = next(found) if item is not None else None
            if grad is None and mode == "zero":
                grad = xp.zeros_like(source.data)
            results.append(grad)
        return _pack(sources, iter(results))

    @staticmethod
    def _seeds(targets: list, output_gradients) -> list:
        """One seed array per target: ones, or the given output gradient (copied, cast)."""
        if output_gradients is None:
            given = [None] * len(targets)
        else:
            given = [item for _, item in _flatten(output_gradients, "output_gradients")]
            if len(given) != len(targets):
                raise ValueError(
                    f"output_gradients must hold one entry per target: got {len(given)} for "
                    f"{len(targets)} targets."
                )
        seeds = []
        for (path, target), seed in zip(targets, given, strict=True):
            data = target.data
            if seed is None:
                seeds.append(xp.ones(data.shape, dtype=data.dtype))
                continue
            seed = xp.array(seed.data if isinstance(seed, Tensor) else seed, dtype=data.dtype)
            if seed.shape != data.shape:
                raise ValueError(
                    f"output_gradients for {path} has shape {seed.shape}, expected the target's "
                    f"shape {data.shape}."
                )
            seeds.append(seed)
        return seeds


def _flatten(structure: Any, path: str) -> list:
    """``(path, leaf)`` pairs of a nested list / tuple / dict, in order; anything else is a leaf."""
    if isinstance(structure, dict):
        pairs = []
        for key, value in structure.items():
            pairs += _flatten(value, f"{path}[{key!r}]")
        return pairs
    if isinstance(structure, (list, tuple)):
        pairs = []
        for index, value in enumerate(structure):
            pairs += _flatten(value, f"{path}[{index}]")
        return pairs
    return [(path, structure)]


def _pack(structure: Any, values: Iterator) -> Any:
    """``structure`` with its leaves replaced by ``values``, in the order of ``_flatten``."""
    if isinstance(structure, dict):
        return {key: _pack(value, values) for key, value in structure.items()}
    if isinstance(structure, list):
        return [_pack(value, values) for value in structure]
    if isinstance(structure, tuple):
        packed = [_pack(value, values) for value in structure]
        # a namedtuple takes its fields as arguments
        return type(structure)(*packed) if hasattr(structure, "_fields") else tuple(packed)
    return next(values)
