"""One training epoch per call, with the data copied to backend tensors once per job.

Why not ``model.fit(..., epochs=1)`` once per epoch: each fit call re-wraps the numpy arrays
(the TensorFlow adapter copies the whole augmented train set into a new tensor every epoch),
builds a new input pipeline and callback list, and runs ``evaluate`` with its own adapter for the
validation set. On 2-core machines that cost 20-40% of the epoch. Here the arrays are converted
once; an epoch is one compiled call (TensorFlow: a ``tf.function`` looping over the batches;
JAX: a jitted ``lax.scan``; PyTorch: eager steps, as Keras does) that gathers each batch on the
device from a batch order given by the caller, so the order can depend on (seed, epoch) alone and
a resumed job repeats it exactly. The step itself is Keras's own ``model.train_step``: the same
loss, optimiser update and loss tracker as ``fit``.
"""

from __future__ import annotations

import numpy as np


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The batch order of one epoch: a permutation drawn from (seed, epoch) only."""
    return np.random.default_rng([seed, epoch, 104729]).permutation(n)


def targets_and_build(models, x, y, batch_size: int) -> np.ndarray:
    """Check the arrays; build optimiser and loss tracker outside any compiled function (as fit does)."""
    if len(x) == 0:
        raise ValueError("no training images")
    y = np.asarray(y, dtype=np.float32).reshape(-1, 1)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} training images but {len(y)} targets")
    for model in models:
        model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size], None))
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    return y


class DeviceData:
    """The train and validation arrays as backend tensors, copied once."""

    def _put_data(self, x, y, x_val, y_val, val_batch_size: int) -> None:
        self.y_val = np.asarray(y_val, dtype=np.float64).reshape(-1)
        self._x = self._tensor(x)
        self._y = self._tensor(y)
        self._val = [self._tensor(x_val[i:i + val_batch_size])
                     for i in range(0, len(x_val), val_batch_size)]
        self._compiled = {}

    def _tensor(self, a):
        import keras

        # numpy arrays are copied once; arrays already on the backend's device stay where they are.
        return keras.ops.convert_to_tensor(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a)


class EpochRunner(DeviceData):
    """Holds the train and validation arrays as backend tensors and runs whole epochs."""

    def __init__(self, model, x, y, x_val, y_val, batch_size: int, val_batch_size: int = 256):
        import keras

        self.model = model
        self.backend = keras.backend.backend()
        self.batch_size = int(batch_size)
        self.n = len(x)
        y = targets_and_build([model], x, y, self.batch_size)
        self._put_data(x, y, x_val, y_val, val_batch_size)

    # -- public -------------------------------------------------------------------------------
    def train_epoch(self, order: np.ndarray) -> float:
        """Train on the batches of ``order`` (row numbers, in order); return the mean loss."""
        order = np.asarray(order)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= self.n)):
            raise ValueError(f"batch order must be row numbers in 0..{self.n - 1}")
        self.model.reset_metrics()
        getattr(self, f"_epoch_{self.backend}")(order.astype(np.int32))
        return float(self.model.get_metrics_result()["loss"])

    def validation_loss(self) -> float:
        """Mean squared error on the validation set, from one compiled forward pass per chunk."""
        if not self._val:
            return float("nan")
        pred = np.concatenate([np.asarray(self.model.predict_on_batch(xb), dtype=np.float64).reshape(-1)
                               for xb in self._val])
        return float(np.mean((pred - self.y_val) ** 2))

    # -- backends -----------------------------------------------------------------------------
    def _epoch_tensorflow(self, order):
        import tensorflow as tf

        fn = self._compiled.get("tf")
        if fn is None:
            model, x_all, y_all, bs = self.model, self._x, self._y, self.batch_size

            @tf.function(reduce_retracing=True)
            def fn(order):
                n = tf.shape(order)[0]
                for i in tf.range((n + bs - 1) // bs):
                    idx = order[i * bs:tf.minimum((i + 1) * bs, n)]
                    model.train_step((tf.gather(x_all, idx), tf.gather(y_all, idx)))
                return n

            self._compiled["tf"] = fn
        fn(tf.constant(order))

    def _epoch_jax(self, order):
        import jax

        model, bs = self.model, self.batch_size
        fn = self._compiled.get("jax")
        if fn is None:
            def steps(state, x_all, y_all, batches):
                def body(state, idx):
                    _, state = model.train_step(state, (x_all[idx], y_all[idx]))
                    return state, None

                state, _ = jax.lax.scan(body, state, batches)
                return state

            fn = self._compiled["jax"] = jax.jit(steps, donate_argnums=0)
        full = (len(order) // bs) * bs
        state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                     optimizer_variables=True, metrics_variables=True)
        for part in (order[:full].reshape(-1, bs), order[full:].reshape(1, -1)):
            if part.size:
                state = fn(state, self._x, self._y, part)
        trainable, non_trainable, optimizer, metrics = state
        for group, values in ((model.trainable_variables, trainable),
                              (model.non_trainable_variables, non_trainable),
                              (model.optimizer.variables, optimizer),
                              (model.metrics_variables, metrics)):
            for var, value in zip(group, values):
                var.assign(value)

    def _epoch_torch(self, order):
        import torch

        model, bs = self.model, self.batch_size
        idx_all = torch.as_tensor(order, dtype=torch.long, device=self._x.device)
        model.train()
        for start in range(0, len(order), bs):
            idx = idx_all[start:start + bs]
            model.train_step((self._x.index_select(0, idx), self._y.index_select(0, idx)))
        model.eval()
