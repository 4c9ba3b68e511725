"""One training epoch per call, with the data copied to backend tensors once per job (issue 7).

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


def _targets_and_build(models, x, y, batch_size: int) -> np.ndarray:
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

class EpochRunner:
    """Holds the train and validation arrays as backend tensors and runs whole epochs."""

    def __init__(self, model, x, y, x_val, y_val, batch_size: int, val_batch_size: int = 256):
        import keras

        self.model = model
        self.backend = keras.backend.backend()
        self.batch_size = int(batch_size)
        self.n = len(x)
        y = _targets_and_build([model], x, y, self.batch_size)
        self.y_val = np.asarray(y_val, dtype=np.float64).reshape(-1)
        self._x = self._tensor(x)
        self._y = self._tensor(y)
        self._val = [self._tensor(x_val[i:i + val_batch_size])
                     for i in range(0, len(x_val), val_batch_size)]
        self._compiled = {}

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
    def _tensor(self, a):
        import keras

        # numpy arrays are copied once; arrays already on the backend's device stay where they are.
        return keras.ops.convert_to_tensor(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a)

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


class EnsembleEpochRunner:
    """K independently seeded models of one setting trained at once, in one process (JAX only).

    Why: at batch 32 one paper CNN leaves a GPU latency-bound (issue 7), and separate processes
    only time-slice it. The paper trains 5 seeds per setting; here their Keras states (trainable,
    non-trainable, optimiser and metric variables) are stacked along a new leading axis and
    ``jax.vmap`` maps Keras's own ``model.train_step`` over (state, batch) inside the same jitted
    ``lax.scan`` per epoch as ``EpochRunner``: every model keeps its own weights, Adam state, loss
    tracker and batch order, and computes exactly the steps of a single training, while the
    device runs K batches per kernel. ``train_epoch`` writes each model's state back, so the
    models can be saved, scored and checkpointed one by one as usual.
    """

    def __init__(self, models, x, y, x_val, y_val, batch_size: int, val_batch_size: int = 256):
        import keras

        self.backend = keras.backend.backend()
        if self.backend != "jax":
            raise RuntimeError(f"EnsembleEpochRunner needs the JAX backend (jax.vmap over stacked "
                               f"model states), but Keras runs on {self.backend!r}: set "
                               f"KERAS_BACKEND=jax, or train the models one by one with EpochRunner")
        self.models = list(models)
        if not self.models:
            raise ValueError("no models to train")
        self.k = len(self.models)
        self.batch_size = int(batch_size)
        self.n = len(x)
        y = _targets_and_build(self.models, x, y, self.batch_size)
        self._layout = [self._signature(m) for m in self.models]
        for i, layout in enumerate(self._layout[1:], start=1):
            if layout != self._layout[0]:
                raise ValueError(f"model {i} differs from model 0 in its variables (names, shapes "
                                 f"or dtypes): an ensemble needs K copies of one architecture, "
                                 f"optimiser and precision")
        self.y_val = np.asarray(y_val, dtype=np.float64).reshape(-1)
        self._x = self._tensor(x)
        self._y = self._tensor(y)
        self._val = [self._tensor(x_val[i:i + val_batch_size])
                     for i in range(0, len(x_val), val_batch_size)]
        self._compiled = {}

    # -- public -------------------------------------------------------------------------------
    def train_epoch(self, orders) -> np.ndarray:
        """One epoch of every model; ``orders[k]`` is model k's batch order. Returns K mean losses."""
        orders = np.asarray(orders)
        if orders.shape != (self.k, orders.shape[-1]) or orders.ndim != 2:
            raise ValueError(f"batch orders must have shape ({self.k}, n): one order per model, "
                             f"got {orders.shape}")
        if orders.size and (orders.min() < 0 or orders.max() >= self.n):
            raise ValueError(f"batch orders must be row numbers in 0..{self.n - 1}")
        for model in self.models:
            model.reset_metrics()
        state = self._stacked_state()
        fn = self._epoch_function()
        bs, full = self.batch_size, (orders.shape[1] // self.batch_size) * self.batch_size
        orders = orders.astype(np.int32)
        # (steps, K, batch): the scan runs over steps, vmap over the K models of each step.
        for part in (orders[:, :full].reshape(self.k, -1, bs), orders[:, full:].reshape(self.k, 1, -1)):
            if part.size:
                state = fn(state, self._x, self._y, np.ascontiguousarray(part.transpose(1, 0, 2)))
        self._write_back(state)
        return np.array([float(m.get_metrics_result()["loss"]) for m in self.models])

    def validation_loss(self) -> np.ndarray:
        """Each model's mean squared error on the validation set (K values)."""
        if not self._val:
            return np.full(self.k, np.nan)
        fn = self._compiled.get("predict")
        if fn is None:
            import jax

            template = self.models[0]

            def predict(trainable, non_trainable, xb):
                def one(tv, ntv):
                    y_pred, _ = template.stateless_call(tv, ntv, xb, training=False)
                    return y_pred

                return jax.vmap(one)(trainable, non_trainable)

            fn = self._compiled["predict"] = jax.jit(predict)
        trainable, non_trainable = self._stacked_state(optimizer=False, metrics=False)
        pred = np.concatenate([np.asarray(fn(trainable, non_trainable, xb), dtype=np.float64)
                               .reshape(self.k, -1) for xb in self._val], axis=1)
        return np.mean((pred - self.y_val[None, :]) ** 2, axis=1)

    # -- internals ----------------------------------------------------------------------------
    _tensor = EpochRunner._tensor

    @staticmethod
    def _signature(model):
        groups = (model.trainable_variables, model.non_trainable_variables,
                  model.optimizer.variables, model.metrics_variables)
        return [[(v.name, tuple(v.shape), str(v.dtype)) for v in g] for g in groups]

    def _stacked_state(self, optimizer=True, metrics=True):
        import jax.numpy as jnp

        states = [m._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                   optimizer_variables=optimizer, metrics_variables=metrics)
                  for m in self.models]
        return tuple([jnp.stack([s[g][j] for s in states]) for j in range(len(states[0][g]))]
                     for g in range(len(states[0])))

    def _epoch_function(self):
        fn = self._compiled.get("epoch")
        if fn is None:
            import jax

            template = self.models[0]

            def steps(state, x_all, y_all, batches):
                def one(state, idx):
                    _, state = template.train_step(state, (x_all[idx], y_all[idx]))
                    return state

                def body(state, idx):
                    return jax.vmap(one)(state, idx), None

                state, _ = jax.lax.scan(body, state, batches)
                return state

            fn = self._compiled["epoch"] = jax.jit(steps, donate_argnums=0)
        return fn

    def _write_back(self, state):
        import jax

        split = self._compiled.get("split")
        if split is None:  # one dispatch: K separate copies of the state, one per model
            k = self.k
            split = self._compiled["split"] = jax.jit(
                lambda s: [jax.tree_util.tree_map(lambda a: a[i], s) for i in range(k)])
        for model, values in zip(self.models, split(state)):
            groups = (model.trainable_variables, model.non_trainable_variables,
                      model.optimizer.variables, model.metrics_variables)
            for group, vals in zip(groups, values):
                for var, value in zip(group, vals):
                    var.assign(value)
