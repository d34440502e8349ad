"""Reverse-mode differentiation: the Function base, the graph walk, ``no_grad`` and unbroadcast.

A ``Function`` works on plain arrays: ``forward`` computes the output and saves what ``backward``
needs on the instance; ``backward`` maps the output gradient to one gradient per input (or None).
Tensors (see ``tensor.py``) record which Function made them; ``backward_from`` walks that graph
iteratively, so a graph thousands of ops deep needs no recursion.
"""

from __future__ import annotations

from axonal.backend import xp

_grad_enabled = True


class Function:
    """One differentiable primitive: ``forward(*arrays, **attrs)`` and ``backward(grad)``.

    Subclasses save what backward needs as attributes in ``forward``. ``needs_grad`` is set by the
    engine before ``forward`` runs: a tuple of booleans, one per input, so a primitive can skip
    gradients nobody asked for (the input batch of the first layer, for instance); None when no
    graph records the call (``no_grad``, inference), so ``forward`` may skip saving for backward.
    A primitive called directly has no ``needs_grad`` at all.
    """

    __slots__ = ("inputs", "needs_grad", "__dict__")

    def forward(self, *arrays, **attrs):
        """Compute the output array from input arrays."""
        raise NotImplementedError

    def backward(self, grad):
        """Return a tuple with the gradient for each input (None where not needed)."""
        raise NotImplementedError

    def free_grad_buffer(self, index: int):
        """Where input ``index``'s gradient may be written directly, or None.

        A trainable leaf that has no gradient yet may own a buffer (a view of its model's packed
        gradient buffer); a primitive that can produce that gradient into a given array writes
        it there, and the engine then takes that array as the leaf's ``.grad``.
        """
        tensor = self.inputs[index]
        if tensor is None or tensor._ctx is not None or tensor.grad is not None:
            return None
        return getattr(tensor, "grad_buffer", None)


def is_grad_enabled() -> bool:
    """Return whether operations currently record a graph."""
    return _grad_enabled


class no_grad:  # noqa: N801 - used like a function, as in PyTorch
    """Context manager in which operations build no graph (inference, metric computation).

    Example:
        >>> with no_grad():
        ...     y = model(x)
    """

    __slots__ = ("previous",)

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


class enable_grad:  # noqa: N801 - used like a function, as in PyTorch
    """Context manager that turns graph recording back on inside ``no_grad``."""

    __slots__ = ("previous",)

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = True

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _chain_order(root) -> list | None:
    """The nodes from ``root`` back when every node has at most one non-leaf input; else None.

    A Sequential model's graph is such a chain: walking it needs no visited set or stack.
    """
    order = [root]
    node = root
    while True:
        following = None
        for parent in node._ctx.inputs:
            if parent is not None and parent._ctx is not None and parent.requires_grad:
                if following is not None:
                    return None
                following = parent
        if following is None:
            return order
        order.append(following)
        node = following


def _topological_order(roots) -> list:
    """Non-leaf nodes reachable from ``roots``, each after every node that consumes it, reversed.

    Leaves are left out: their gradients are final as soon as they arrive, so the walk
    accumulates them on the spot instead of scheduling them. A depth-first walk from several
    roots sharing one visited set still gives a topological order when reversed.
    """
    order = []
    visited = set()
    for root in roots:
        if id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root._ctx.inputs))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if (
                    parent is not None
                    and parent._ctx is not None
                    and parent.requires_grad
                    and id(parent) not in visited
                ):
                    visited.add(id(parent))
                    stack.append((parent, iter(parent._ctx.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def backward_from(root, grad=None, retain_graph: bool = False) -> None:
    """Backpropagate from ``root``; leaf tensors that require grad accumulate into ``.grad``.

    The graph is freed as it is walked (each Function and its saved arrays are dropped) unless
    ``retain_graph`` is set, so activation memory is returned as soon as possible.
    """
    global _grad_enabled
    if grad is None:
        if root.data.size != 1:
            raise ValueError(
                f"backward() without a gradient needs a scalar, got shape {root.data.shape}; "
                "pass grad= of the same shape."
            )
        grad = _one(root.data.dtype)
    elif grad.shape != root.data.shape:
        raise ValueError(f"grad has shape {grad.shape}, expected {root.data.shape}.")
    handed_out: set[int] = set()
    if root._ctx is None:
        _accumulate_leaf(root, grad, handed_out)
        return
    grads = {id(root): grad}
    previous = _grad_enabled
    _grad_enabled = False
    try:
        for node in _chain_order(root) or _topological_order((root,)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            ctx = node._ctx
            for parent, parent_grad in zip(ctx.inputs, ctx.backward(g), strict=True):
                if parent_grad is None or parent is None or not parent.requires_grad:
                    continue
                if parent_grad.shape != parent.data.shape:
                    parent_grad = unbroadcast(parent_grad, parent.data.shape)
                if parent._ctx is None:
                    _accumulate_leaf(parent, parent_grad, handed_out)
                    continue
                key = id(parent)
                # out of place: a backward may hand the same array to two inputs
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
            if not retain_graph:
                node._ctx = None
    finally:
        _grad_enabled = previous


def gradients(roots: list, seeds: list, sources: list, retain_graph: bool = False) -> list:
    """Gradients of ``sum_i <seeds[i], roots[i]>`` with respect to each of ``sources``.

    The walk of ``backward_from``, except that it writes no ``.grad`` (nor a packed gradient
    buffer): the gradient of each source is returned, a new array that nothing else holds, or
    None where the source is not connected to any root. Sources may be leaves (variables,
    watched inputs) or tensors inside the graph. This is what ``GradientTape.gradient`` runs.

    Args:
        roots: tensors to differentiate; each seeded with the array of the same index in
            ``seeds`` (its shape).
        sources: tensors to differentiate with respect to (a tensor may appear several times).
        retain_graph: keep the graph for another walk; otherwise it is freed as it is walked.

    Returns:
        A list with one array or None per source.
    """
    global _grad_enabled
    wanted = {id(source) for source in sources}
    # id(source) -> (gradient so far, whether this walk made that array and nothing else holds it)
    found: dict = {}
    grads: dict = {}
    nodes = []
    for root, seed in zip(roots, seeds, strict=True):
        key = id(root)
        if root._ctx is None or not root.requires_grad:
            if key in wanted:
                _gather(found, key, seed)
            continue
        if key in grads:
            grads[key] = grads[key] + seed
        else:
            grads[key] = seed
            nodes.append(root)
    order = (_chain_order(nodes[0]) if len(nodes) == 1 else None) or _topological_order(nodes)
    # a primitive may write a leaf's gradient into the leaf's packed buffer (see
    # ``free_grad_buffer``): that buffer belongs to ``.grad`` and the optimizer, not to us
    buffers = []
    for node in order:
        for parent in node._ctx.inputs:
            if getattr(parent, "grad_buffer", None) is not None:
                buffers.append((parent, parent.grad_buffer))
                parent.grad_buffer = None
    previous = _grad_enabled
    _grad_enabled = False
    try:
        for node in order:
            key = id(node)
            g = grads.pop(key, None)
            if g is None:
                continue
            if key in wanted:
                # a copy: g is also handed on, and a backward may pass it (or a view) upstream
                found[key] = (g.copy() if key not in found else found[key][0] + g, True)
            ctx = node._ctx
            for parent, parent_grad in zip(ctx.inputs, ctx.backward(g), strict=True):
                if parent_grad is None or parent is None:
                    continue
                if parent_grad.shape != parent.data.shape:
                    parent_grad = unbroadcast(parent_grad, parent.data.shape)
                parent_key = id(parent)
                if parent._ctx is None:
                    if parent_key in wanted:
                        _gather(found, parent_key, parent_grad)
                    continue
                if not parent.requires_grad:
                    continue
                # out of place: a backward may hand the same array to two inputs
                if parent_key in grads:
                    grads[parent_key] = grads[parent_key] + parent_grad
                else:
                    grads[parent_key] = parent_grad
            if not retain_graph:
                node._ctx = None
    finally:
        _grad_enabled = previous
        for parent, buffer in buffers:
            parent.grad_buffer = buffer
    results = []
    given = set()
    for source in sources:
        key = id(source)
        entry = found.get(key)
        if entry is None:
            results.append(None)
            continue
        g, owned = entry
        # an array a backward handed out may also be held elsewhere (another source's result,
        # a seed, a read-only broadcast view): the caller gets one of its own
        if not owned or key in given:
            g = g.copy()
        given.add(key)
        results.append(g)
    return results


def _gather(found: dict, key: int, g) -> None:
    """Add ``g`` to the gradient found so far for the source with id ``key``."""
    if key in found:
        found[key] = (found[key][0] + g, True)
    else:
        found[key] = (g, False)


_ONES: dict = {}


def _one(dtype):
    """A read-only 0-d one of ``dtype``: the seed gradient of a scalar loss, made once.

    Read-only, so a backward that wrongly wrote into its incoming gradient would fail loudly.
    """
    # keyed by the type code: hashing a dtype object costs more than making the array
    one = _ONES.get(dtype.char)
    if one is None:
        one = xp.ones((), dtype=dtype)
        one.flags.writeable = False
        _ONES[dtype.char] = one
    return one


def _accumulate_leaf(leaf, g, handed_out: set) -> None:
    """Add ``g`` to a leaf's ``.grad``; each leaf owns a writable array of its own."""
    if leaf.grad is not None:
        leaf.grad = leaf.grad + g
        return
    # a broadcast view is read-only, and a backward may hand one array to two leaves
    if g is getattr(leaf, "grad_buffer", None):
        leaf.grad = g
        return
    if not g.flags.writeable or id(g) in handed_out:
        g = g.copy()
    handed_out.add(id(g))
    leaf.grad = g
