"""The ONNX runtime of a saved network: ``model.onnx`` run by ONNX Runtime, no TensorFlow.

Every saved cell holds ``model.onnx`` beside ``model.keras`` (written by :func:`export_onnx`
at save time and hashed in the manifest like every other file). Nothing here imports
TensorFlow or Keras, so a fresh ``forecast predict`` process starts in well under a second
instead of the 3-5 s that ``import keras`` alone costs.

Example:
    >>> rt = OnnxRuntime("models/seattle-temps/runs/<id>/lstm/model.onnx")  # doctest: +SKIP
    >>> rt.backend, rt(windows).shape  # doctest: +SKIP
    ('onnx', (1, 24))
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.errors import ArtifactError
from forecaster.fs import atomic_path

__all__ = ["OnnxRuntime", "export_onnx"]


class OnnxRuntime:
    """A saved network run by ONNX Runtime, called like a Keras model (a :class:`~forecaster.models.network.inference.Predictor`).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads for ONNX Runtime (``None``: its default, all cores).

    Calling it with ``(batch, lookback, features)`` windows returns a float32 numpy array
    ``(batch, outputs)``; the ``training`` keyword is accepted and ignored.
    """

    backend = "onnx"

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no provider notices on the user's terminal
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"{self.path}: cannot be loaded by ONNX Runtime ({exc.__class__.__name__}: {exc})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def io_shape(self) -> tuple[int | None, int | None, int | None]:
        """``(steps, columns, outputs)`` of the graph's windows in and forecasts out (``None``: a dimension it
        leaves open)."""
        def fixed(dims: Any, k: int) -> int | None:
            dim = dims[k] if len(dims) > k else None
            return dim if isinstance(dim, int) else None

        into, out = self.session.get_inputs()[0].shape, self.session.get_outputs()[0].shape
        return fixed(into, 1), fixed(into, 2), fixed(out, len(out) - 1)

    def __call__(self, windows: Any, training: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        out: np.ndarray = self.session.run([self.output_name], {self.input_name: x})[0]
        return out


def export_onnx(model: Any, path: Path) -> None:
    """Write ``model`` (a called Keras model) as ONNX to ``path`` atomically.

    tf2onnx writes in place, so the file is written under a temporary name in the same folder
    and renamed; a failed export leaves nothing behind.

    A model with GRU layers is exported through :func:`_fusable_gru_twin`, so that each GRU
    becomes one ONNX ``GRU`` operator instead of a ``Loop`` that runs some twenty small
    operators per time step (2.8 ms against 0.19 ms for the LSTM's fused operator on one
    48-step window; at batch 256 the per-step overhead is amortised and both ran at the same
    throughput). The twin's export is used only when ONNX Runtime reproduces the Keras model on
    random windows (to 1e-5 of their scale); otherwise the plain export is kept.
    """
    twin = _fusable_gru_twin(model)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # keras' tf2onnx numpy-2 patch trips a FutureWarning
        if twin is not None:
            twin.export(str(tmp), format="onnx", verbose=False)
            if _reproduces(model, tmp):
                return
        model.export(str(tmp), format="onnx", verbose=False)


def _reproduces(model: Any, onnx_path: Path, n: int = 16) -> bool:
    """Whether ``onnx_path`` run by ONNX Runtime gives ``model``'s outputs on random windows."""
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.random.default_rng(0).normal(size=(n, *shape)).astype(np.float32)
    want = np.asarray(model(x, training=False))
    try:
        got = OnnxRuntime(onnx_path, threads=1)(x)
    except ArtifactError:
        return False
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= 1e-5 * max(1.0, float(np.abs(want).max()))))


def _fusable_gru_twin(model: Any) -> Any:
    """A copy of ``model`` whose GRU layers are written so tf2onnx fuses them into ONNX ``GRU`` ops; ``None``
    without GRU layers (or one the rewrite does not cover).

    tf2onnx 1.17 recognises a Keras GRU by the step graph Keras 2 traced (``BiasAdd`` and a
    3-way ``Split`` of each projection, biases as separate inputs); Keras 3's ``GRUCell`` slices
    ``matrix_inner[:, :units]`` and adds a sliced bias instead, so the pattern misses and the
    recurrence is exported as a ``Loop``. The twin's cell computes the same GRU (``reset_after``,
    tanh/sigmoid) in the Keras 2 form, with the same weights; ONNX's ``GRU`` with
    ``linear_before_reset=1`` is that cell.
    """
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    import keras

    grus = [layer for layer in layers if isinstance(layer, keras.layers.GRU)]
    if not grus or keras.backend.backend() != "tensorflow":
        return None
    for layer in grus:
        c = layer.cell
        if (not c.reset_after or not c.use_bias or c.activation is not keras.activations.tanh
                or c.recurrent_activation is not keras.activations.sigmoid or layer.go_backwards
                or layer.stateful or layer.return_state or c.recurrent_dropout):
            return None
    cell_cls, rnn_cls = _export_gru_cell()

    def clone(layer: Any) -> Any:
        if isinstance(layer, keras.layers.GRU):
            return rnn_cls(cell_cls(layer.cell.units), return_sequences=layer.return_sequences, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin(np.zeros((1, *(int(d) for d in model.inputs[0].shape[1:])), dtype=np.float32))  # export needs a called model
    for old, new in zip(model.layers, twin.layers):
        weights = old.get_weights()
        if isinstance(old, keras.layers.GRU):
            kernel, recurrent, bias = weights
            weights = [kernel, recurrent, bias[0], bias[1]]
        new.set_weights(weights)
    return twin


def _export_gru_cell() -> tuple[Any, Any]:
    """The GRU cell in the op pattern tf2onnx fuses (TensorFlow ops: only used to export)."""
    import keras
    import tensorflow as tf

    class ExportGRUCell(keras.layers.Layer):
        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units
            self.output_size = units

        def build(self, input_shape: Any) -> None:
            u = self.units
            self.kernel = self.add_weight(shape=(input_shape[-1], 3 * u), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(u, 3 * u), name="recurrent_kernel")
            self.input_bias = self.add_weight(shape=(3 * u,), name="input_bias")
            self.recurrent_bias = self.add_weight(shape=(3 * u,), name="recurrent_bias")

        def call(self, inputs: Any, states: Any) -> Any:
            h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
            x_z, x_r, x_h = tf.split(tf.nn.bias_add(tf.matmul(inputs, self.kernel), self.biases[0]), 3, axis=-1)
            r_z, r_r, r_h = tf.split(tf.nn.bias_add(tf.matmul(h_tm1, self.recurrent_kernel), self.biases[1]),
                                     3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            r = tf.sigmoid(x_r + r_r)
            hh = tf.tanh(x_h + r * r_h)
            h = z * h_tm1 + (1 - z) * hh
            return h, [h]

    class ExportGRU(keras.layers.RNN):
        """Reads the biases before the recurrence, so the loop body receives them as inputs (the pattern's
        ``Placeholder``), not as variable reads inside the body (an ``Identity`` it does not accept)."""

        def call(self, sequences: Any, initial_state: Any = None, mask: Any = None, training: bool = False) -> Any:
            self.cell.biases = (tf.convert_to_tensor(self.cell.input_bias), tf.convert_to_tensor(self.cell.recurrent_bias))
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    return ExportGRUCell, ExportGRU
