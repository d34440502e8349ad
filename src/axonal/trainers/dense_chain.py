"""A lean training step for a plain stack of Dense layers: fit's general step, minus its Python.

On a small model, fit's general step (``Strategy.train_step``) spends most of its time on
bookkeeping rather than arithmetic: a Tensor and a graph node per op, the layer calls, the graph
walk, the loss's dispatch and the optimizer's checks. For the commonest Keras program, a
``Sequential`` of ``Dense`` layers trained with a compiled (sparse) categorical cross-entropy,
everything that bookkeeping decides is known when an epoch starts. ``DenseChainStep`` makes the
same array operations as the primitives the general step runs (``Affine`` and ``AffineRelu``
written out for a 2-D batch, with their helpers ``relu_values``, ``inner_product`` and
``column_sums``; ``Softmax``'s ``softmax_rows``; the ``Tanh``, ``Sigmoid``,
``SparseSoftmaxCrossEntropyMean``, ``SoftmaxCrossEntropy`` and ``Mean`` primitives themselves),
in the same order, writes the weights' gradients into the model's packed gradient buffer as the
graph walk would, and hands them to the optimizer's fused update: the same operations on the
same values, so the same results to the bit (``tests/test_dense_chain.py`` trains both ways and
compares).

``plan(model, variables)`` says whether a model qualifies (anything it does not recognise takes
the general step); the array loop asks once per epoch, after ``on_epoch_begin``.
"""

from __future__ import annotations

from axonal import activations as activations_module
from axonal import losses as losses_module
from axonal import primitives as P
from axonal.backend import xp
from axonal.layers.base import begin_top_level_call
from axonal.layers.core import Dense
from axonal.optimizers import Optimizer

# hidden activations that Dense applies as one elementwise primitive after its Affine
_ELEMENTWISE = {
    activations_module.tanh: P.Tanh,
    activations_module.sigmoid: P.Sigmoid,
}
# the loss reductions that average over the batch (what SparseSoftmaxCrossEntropyMean does)
_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


class DenseChainStep:
    """``Strategy.train_step`` for a model ``plan`` accepted: forward, loss, backward, the
    optimizer update and the running loss and metrics, on one prepared batch.

    Args:
        model: the model (a ``Sequential`` of ``Dense`` layers, compiled with (sparse)
            categorical cross-entropy), its weights packed in ``buffer``.
        layers: the model's layers, in order.
        variables: the trainable weights of this epoch, exactly ``buffer``'s variables.
        buffer: the model's ``ParameterBuffer``.
        update: the optimizer's ``packed_step(buffer)``.
        general: the general step, for a batch this step does not take (sample weights).
        watched: other code runs between steps (a callback's batch hooks): check before each
            step that it has changed nothing this step relies on.
    """

    def __init__(
        self, model, layers: list, variables: list, buffer, update, general, watched: bool
    ) -> None:
        self.model = model
        self.layers = layers
        self.variables = variables
        self.buffer = buffer
        self.update = update
        self.general = general
        self.watched = watched
        self.optimizer = model.optimizer
        self.activations = [layer.activation for layer in layers]
        self.from_logits = model.output_heads[0].loss.fn_kwargs["from_logits"]
        dtype = layers[0].kernel.data.dtype
        # ReLU's comparisons take a 0-d zero, as AffineRelu's do
        self.zero = P.scalar_zero(dtype)
        views = iter(buffer.gradient_views())
        # per layer: (kernel, bias or None, whether ReLU is fused in, the elementwise
        # activation primitive or None, kernel gradient view, bias gradient view or None)
        self.plan = []
        for layer in layers:
            kernel_view = next(views)
            bias_view = None if layer.bias is None else next(views)
            activation = _ELEMENTWISE.get(layer.activation)
            if activation is not None:
                activation = activation()
                activation.needs_grad = (True,)
            relu = layer.activation is activations_module.relu
            self.plan.append((layer.kernel, layer.bias, relu, activation, kernel_view, bias_view))
        # softmax's probabilities are the output (the loss takes them, and the logits)
        self.softmax = not self.from_logits
        # sparse labels: the fused cross-entropy and batch mean; one-hot targets: the per-row
        # cross-entropy, then the batch mean (Loss.__call__'s reduction)
        self.sparse = (
            type(model.output_heads[0].loss) is losses_module.SparseCategoricalCrossentropy
        )
        if self.sparse:
            self.loss = P.SparseSoftmaxCrossEntropyMean()
        else:
            self.loss = P.SoftmaxCrossEntropy()
            self.mean = P.Mean()
            self.mean.needs_grad = (True,)
        self.loss.needs_grad = (True, False)
        # the seed of the graph walk: a read-only scalar one, as ``backward()`` uses
        self.seed = xp.ones((), dtype=dtype)
        self.seed.flags.writeable = False
        self.grads_set = False

    def __call__(self, model, xs: list, ys: list, weights: list, variables: list) -> bool:
        """One step on the batch ``xs``, ``ys`` (``Strategy.train_step``'s signature)."""
        x = xs[0]
        if (
            weights[0] is not None
            or variables is not self.variables
            or x.ndim != 2
            or len(x) == 0
            or (self.watched and not self.still_valid())
        ):
            return self.general(model, xs, ys, weights, variables)
        y = ys[0]
        zero = self.zero
        # a top-level call of the model, as the general step's forward pass starts one (the
        # model's add_loss terms from before it are stale from then on)
        begin_top_level_call(model)
        # forward, as each Dense layer's call makes it: Affine (x·kernel + bias), with ReLU
        # fused in (AffineRelu) or followed by its activation's primitive
        seen = []
        out = x
        for kernel, bias, relu, activation, _, _ in self.plan:
            layer_input = out
            out = out.dot(kernel.data)
            if bias is not None:
                out += bias.data
            if relu:
                P.relu_values(out, out=out)
            # what backward needs: the layer's input, and its output for ReLU's mask
            seen.append((layer_input, out))
            if activation is not None:
                out = activation.forward(out)
        logits = out
        if self.softmax:
            out = P.softmax_rows(logits)
        # the compiled loss: cross-entropy of the logits (the softmax output's, as the loss
        # finds them), averaged over the batch; backward, the chain of nodes from the loss as
        # the graph walk passes each gradient on
        if self.sparse:
            # fused with the mean, reusing softmax's probabilities
            labels = y[..., 0] if y.ndim == 2 and y.shape[-1] == 1 else y
            loss = self.loss.forward(
                logits, labels.astype(xp.intp, copy=False), probs=out if self.softmax else None
            )
            grad = self.loss.backward(self.seed)[0]
        else:
            loss = self.mean.forward(self.loss.forward(logits, y, axis=-1), axis=None)
            grad = self.loss.backward(self.mean.backward(self.seed)[0])[0]
        # the weights' gradients are written into their views of the packed buffer
        for position in range(len(self.plan) - 1, -1, -1):
            kernel, bias, relu, activation, kernel_view, bias_view = self.plan[position]
            layer_input, layer_output = seen[position]
            if activation is not None:
                grad = activation.backward(grad)[0]
            if relu:
                # a multiply by the boolean mask, as AffineRelu.backward
                grad = grad * xp.greater(layer_output, zero)
            # the first layer's input is the batch: it needs no gradient
            below = grad.dot(kernel.data.T) if position else None
            P.inner_product(layer_input.T, grad, out=kernel_view)
            if bias_view is not None:
                P.column_sums(grad, out=bias_view)
            grad = below
        if not self.grads_set:
            # each weight's .grad is its view of the packed gradients, as after backward()
            for variable, view in zip(variables, self.buffer.gradient_views(), strict=True):
                variable.grad = view
            self.grads_set = True
        self.update()
        model._track_arrays(loss, y, out, None)
        return False

    def renew(self, model, layers: list, variables: list, buffer, update, watched: bool) -> bool:
        """Take on the next epoch if nothing this step was made from has changed (the same
        model, layers, weights, activations, loss and buffer); return whether it did.

        Reusing the step saves building its primitives again, and their first calls."""
        if (
            model is not self.model
            or buffer is not self.buffer
            or model.optimizer is not self.optimizer
            or len(layers) != len(self.layers)
            or len(variables) != len(self.variables)
            or model.output_heads[0].loss.fn_kwargs["from_logits"] != self.from_logits
        ):
            return False
        for layer, mine, activation in zip(layers, self.layers, self.activations, strict=True):
            if layer is not mine or layer.activation is not activation:
                return False
        for variable, mine in zip(variables, self.variables, strict=True):
            if variable is not mine:
                return False
        self.variables = variables
        self.update = update
        self.watched = watched
        self.grads_set = False
        return True

    def still_valid(self) -> bool:
        """Whether the model, its weights and its optimizer are still as this step was made
        for (a callback may have changed them between steps)."""
        model = self.model
        if model.optimizer is not self.optimizer or not self.buffer.holds(self.variables):
            return False
        for layer, activation, step in zip(self.layers, self.activations, self.plan, strict=True):
            if (
                layer.activation is not activation
                or not layer.trainable
                or layer.kernel is not step[0]
                or layer.bias is not step[1]
            ):
                return False
        return self.optimizer.packed_step(self.buffer) is not None


def plan(
    model, variables: list, general, watched: bool = False, previous=None
) -> DenseChainStep | None:
    """A ``DenseChainStep`` for ``model`` this epoch, or None where the general step must run.

    It takes a model whose forward pass is a chain of plain ``Dense`` layers (relu, linear,
    tanh or sigmoid hidden; softmax or linear out), every weight trainable, of one float dtype
    and packed in one buffer the optimizer updates; one output, compiled with sparse or
    categorical cross-entropy averaged over the batch (of the softmax output or of logits; no
    label smoothing), loss weight 1; no regularizers, constraints or gradient clipping.

    Args:
        model: the model ``fit`` trains.
        variables: this epoch's trainable weights.
        general: the step to fall back on for a batch the lean step does not take.
        watched: whether other code (a callback's batch hooks) runs between steps.
        previous: the step of the previous epoch (or None), reused when it still fits.
    """
    layers = model._layer_chain()
    # (add_loss terms need no check: Dense adds none, and a step's loss counts only the terms
    # of its own call)
    if not layers or not variables or model._step_regularized:
        return None
    dtype = model.dtype
    expected = []
    for position, layer in enumerate(layers):
        if type(layer) is not Dense or not layer.built or not layer.trainable:
            return None
        if "call" in vars(layer):
            return None  # a call patched onto this one layer
        # the batch arrives in the model's dtype: no layer may cast it
        if layer.input_spec is not None or layer.dtype != dtype:
            return None
        last = position == len(layers) - 1
        activation = layer.activation
        if not (
            activation is activations_module.relu
            or activation is activations_module.linear
            or (activation in _ELEMENTWISE and not last)
            or (activation is activations_module.softmax and last)
        ):
            return None
        for weight in (layer.kernel, layer.bias):
            if weight is None:
                continue
            if weight.data.dtype != dtype or not weight.trainable or weight.constraint is not None:
                return None
            expected.append(weight)
    if len(expected) != len(variables) or any(
        a is not b for a, b in zip(expected, variables, strict=True)
    ):
        return None
    if not _takes_loss(model, layers[-1]):
        return None
    optimizer = model.optimizer
    buffer = model._packed_buffer()
    if not isinstance(optimizer, Optimizer) or buffer is None or not buffer.holds(variables):
        return None
    update = optimizer.packed_step(buffer)
    if update is None:
        return None
    if previous is not None and previous.renew(model, layers, variables, buffer, update, watched):
        return previous
    return DenseChainStep(model, layers, variables, buffer, update, general, watched)


def _takes_loss(model, last) -> bool:
    """Whether the model's one compiled loss is sparse or categorical cross-entropy averaged
    over the batch, of the last layer's softmax output (or of its logits), loss weight 1."""
    heads = model.output_heads
    if len(heads) != 1:
        return False
    head = heads[0]
    loss = head.loss
    kind = type(loss)
    if kind not in (
        losses_module.SparseCategoricalCrossentropy,
        losses_module.CategoricalCrossentropy,
    ):
        return False
    if head.weight != 1.0 or loss.dtype is not None or loss.reduction not in _MEAN_REDUCTIONS:
        return False
    options = loss.fn_kwargs
    if options["axis"] != -1:
        return False
    if kind is losses_module.SparseCategoricalCrossentropy:
        if options["ignore_class"] is not None:
            return False
    elif loss.fn is not losses_module.categorical_crossentropy or options["label_smoothing"]:
        return False
    if options["from_logits"]:
        return last.activation is activations_module.linear
    return last.activation is activations_module.softmax


__all__ = ["DenseChainStep", "plan"]
