"""One model factory backed by a registry of cells.

Every cell builds the same shape of network: ``Input(lookback, n_features)`` -> the cell's
body (stacked layers of ``units``) -> ``Dense(horizon)`` (direct multi-output: one network
predicts all ``horizon`` steps). Recurrent cells keep Keras' defaults that select the fused
kernel (cuDNN on a GPU): ``tanh``/``sigmoid``, ``recurrent_dropout=0``, ``unroll=False``,
``use_bias=True`` and, for GRU, ``reset_after=True``. Dropout is applied between layers, never
as recurrent dropout, for that reason.

This module imports Keras only inside :func:`build_model`, so listing cells is cheap.

Example:
    >>> model = build_model(cell="gru", lookback=48, n_features=1, horizon=24, units=(32,))
    >>> model.output_shape
    (None, 24)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from forecaster.models.network.residual import ResidualBase

__all__ = ["register_cell", "available_cells", "cell_traits", "CellTraits", "build_model", "custom_objects",
           "RECURRENT_CELLS"]


@dataclass(frozen=True)
class CellTraits:
    """What training needs to know about a cell, declared where the cell is registered.

    Attributes:
        recurrent: its layers run time steps one after another (split a CPU batch into shards;
            keep them on the fused/cuDNN path).
        jit_auto: ``training.jit_compile: null`` turns XLA on for it on a CPU (measured faster).
    """

    recurrent: bool = False
    jit_auto: bool = False


# name -> body(x, units, dropout) -> tensor; each body builds its layers on the functional graph.
_CELLS: dict[str, Callable[..., Any]] = {}
_TRAITS: dict[str, CellTraits] = {}


def register_cell(name: str, *, recurrent: bool = False, jit_auto: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a network body under ``name`` (decorator), with its traits.

    The body is called as ``body(x, units=(64,), dropout=0.0)`` with the input tensor and
    returns a 2-D tensor; the factory adds the input and the ``Dense(horizon)`` head.
    """

    def add(body: Callable[..., Any]) -> Callable[..., Any]:
        _CELLS[name] = body
        _TRAITS[name] = CellTraits(recurrent=recurrent, jit_auto=jit_auto)
        return body

    return add


def cell_traits(name: str) -> CellTraits:
    """The registered traits of a cell (an unregistered name has none)."""
    return _TRAITS.get(name, CellTraits())


def available_cells() -> tuple[str, ...]:
    """Names accepted by ``build_model(cell=...)``."""
    return tuple(_CELLS)


def _recurrent(layer_name: str) -> Callable[..., Any]:
    def body(x: Any, *, units: Sequence[int], dropout: float) -> Any:
        import keras

        layer_cls = getattr(keras.layers, layer_name)
        for i, n in enumerate(units):
            last = i == len(units) - 1
            x = layer_cls(n, return_sequences=not last, name=f"{layer_name.lower()}_{i}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        return x

    return body


register_cell("lstm", recurrent=True)(_recurrent("LSTM"))
# XLA on CPU: GRU 1.10-1.45x, LSTM 0.94-1.06x (measured; docs/architecture.md).
register_cell("gru", recurrent=True, jit_auto=True)(_recurrent("GRU"))


@register_cell("mlp")
def _mlp(x: Any, *, units: Sequence[int], dropout: float) -> Any:
    """A dense baseline on the flattened window: does recurrence earn its cost?"""
    import keras

    x = keras.layers.Flatten(name="flatten")(x)
    for i, n in enumerate(units):
        x = keras.layers.Dense(n, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return x


#: Cells whose layers are recurrent (and must stay on the fused/cuDNN path).
RECURRENT_CELLS = tuple(n for n, t in _TRAITS.items() if t.recurrent)

_LAYERS: dict[str, Any] = {}


def custom_objects() -> dict[str, Any]:
    """The package's own Keras layers, registered so ``load_model(..., safe_mode=True)`` finds them."""
    if not _LAYERS:
        import keras

        @keras.saving.register_keras_serializable(package="forecaster")
        class CenterOnLast(keras.layers.Layer):
            """Subtract each window's last target value from its target channel (level-free inputs)."""

            def call(self, x: Any) -> Any:
                last = x[:, -1:, :1]
                return keras.ops.concatenate([x[:, :, :1] - last, x[:, :, 1:]], axis=-1)

        @keras.saving.register_keras_serializable(package="forecaster")
        class RepeatLast(keras.layers.Layer):
            """Each window's last target value, repeated ``steps`` times: the naive forecast."""

            def __init__(self, steps: int, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.steps = steps

            def call(self, x: Any) -> Any:
                return keras.ops.repeat(x[:, -1:, 0], self.steps, axis=1)

            def get_config(self) -> dict[str, Any]:
                return {**super().get_config(), "steps": self.steps}

        @keras.saving.register_keras_serializable(package="forecaster")
        class SeasonalNaive(keras.layers.Layer):
            """Each window's seasonal-naive forecast: its last ``season`` target values, repeated."""

            def __init__(self, steps: int, season: int, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.steps, self.season = steps, season

            def call(self, x: Any) -> Any:
                cycle = x[:, -self.season :, 0]
                return keras.ops.tile(cycle, (1, -(-self.steps // self.season)))[:, : self.steps]

            def get_config(self) -> dict[str, Any]:
                return {**super().get_config(), "steps": self.steps, "season": self.season}

        _LAYERS.update({"CenterOnLast": CenterOnLast, "RepeatLast": RepeatLast, "SeasonalNaive": SeasonalNaive})
    return dict(_LAYERS)


def build_model(
    *,
    cell: str,
    lookback: int,
    n_features: int,
    horizon: int,
    units: Sequence[int] = (64,),
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
    residual: bool = True,
    base: ResidualBase | None = None,
    head_init: str = "zeros",
    linear_trainable: bool = False,
    recurrent_steps: int | None = None,
) -> keras.Model:
    """Build and compile a forecasting network.

    Args:
        cell: a registered cell name (see :func:`available_cells`).
        lookback: input steps.
        n_features: input columns (target + covariates).
        horizon: output steps.
        units: units per stacked layer, e.g. ``(64, 32)``.
        dropout: dropout rate between layers (not recurrent dropout).
        learning_rate: Adam's learning rate.
        residual: centre each window's target channel on its last value and add a baseline
            forecast (``base``) to the outputs, so the network learns a correction to it. Makes
            the model level-equivariant (``f(x + c) = f(x) + c`` in the target), which keeps
            trending series, whose test values leave the training range, forecastable. The
            network's output is multiplied by the baseline's training error, so it starts close
            to the baseline and Adam's steps match the size of the correction left to learn.
        base: which baseline and how large its error is (see
            :func:`forecaster.models.network.residual.residual_base`); ``None``: naive, scale 1. With its
            ``linear`` start, a ``Dense`` path on the whole centred window holds that start, frozen
            (``linear_trainable``), and the cell's output layer starts at ``head_init`` (zeros: the
            untrained network forecasts exactly the ``linear`` baseline row).
        head_init: the cell's output layer's initialiser when there is a linear start.
        linear_trainable: let Adam move the linear path away from its least-squares start.
        recurrent_steps: a recurrent cell reads only the last this-many steps of the window
            (``None``: all of them); the linear path still reads the whole lookback.

    Returns:
        A compiled ``keras.Model`` (Adam, MSE loss) mapping ``(batch, lookback, n_features)``
        to ``(batch, horizon)``.

    Raises:
        ConfigError: ``cell`` is not registered (the message lists the valid ones).
    """
    if cell not in _CELLS:
        from forecaster.errors import ConfigError

        raise ConfigError(f"--cell (model.cell): unknown cell {cell!r}; expected one of {', '.join(_CELLS)}")
    import keras
    import numpy as np

    from forecaster.models.network.residual import ResidualBase

    inputs = keras.Input(shape=(lookback, n_features), name="window")
    layers = custom_objects()
    x = layers["CenterOnLast"](name="center_on_last")(inputs) if residual else inputs
    centred = x
    if recurrent_steps is not None and recurrent_steps < lookback and cell_traits(cell).recurrent:
        # a recurrent layer's cost grows with the steps it runs; the linear path keeps the long view
        x = keras.layers.Cropping1D((lookback - recurrent_steps, 0), name="recent_steps")(x)
    x = _CELLS[cell](x, units=tuple(units), dropout=dropout)
    linear = residual and base is not None and base.linear is not None
    outputs = keras.layers.Dense(horizon, name="forecast",
                                 kernel_initializer=head_init if linear else "glorot_uniform")(x)
    if residual:
        base = base or ResidualBase("naive", None, 1.0)
        if base.linear is not None:  # a linear correction, started at its least-squares fit (set below)
            flat = keras.layers.Flatten(name="window_flat")(centred)
            outputs = keras.layers.Add(name="plus_linear")(
                [outputs, keras.layers.Dense(horizon, name="linear", trainable=linear_trainable)(flat)])
        if base.season:
            baseline = layers["SeasonalNaive"](horizon, base.season, name="seasonal_naive")(inputs)
        else:
            baseline = layers["RepeatLast"](horizon, name="last")(inputs)
        if base.scale != 1.0:  # corrections in units of the baseline's error: Adam's steps fit them
            outputs = keras.layers.Rescaling(base.scale, name="correction_scale")(outputs)
        outputs = keras.layers.Add(name="plus_baseline")([outputs, baseline])
    model = keras.Model(inputs, outputs, name=f"{cell}_forecaster")
    if residual and base is not None and base.linear is not None:
        model.get_layer("linear").set_weights([np.asarray(w, dtype="float32") for w in base.linear])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model
