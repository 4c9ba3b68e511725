"""K independently seeded models of one setting trained at once, in one process (JAX only).

Used by the GPU benchmarks (benchmarks/gpu.py --ensemble) and tests/test_ensemble.py; the
workflow's training jobs train one model each with ``clusterage.train.fitloop.EpochRunner``.
"""

from __future__ import annotations

import numpy as np

from clusterage.train.fitloop import DeviceData, targets_and_build


class EnsembleEpochRunner(DeviceData):
    """K independently seeded models of one setting trained at once, in one process (JAX only).

    Why: at batch 32 one paper CNN leaves a GPU latency-bound (docs/benchmarks.md), and separate processes
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
        y = targets_and_build(self.models, x, y, self.batch_size)
        self._layout = [self._signature(m) for m in self.models]
        for i, layout in enumerate(self._layout[1:], start=1):
            if layout != self._layout[0]:
                raise ValueError(f"model {i} differs from model 0 in its variables (names, shapes "
                                 f"or dtypes): an ensemble needs K copies of one architecture, "
                                 f"optimiser and precision")
        self._put_data(x, y, x_val, y_val, val_batch_size)

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
