"""The Python API, for notebooks: DataFrames in, DataFrames and a verdict out.

A thin layer over the workflows the ``forecast`` command runs (:mod:`forecaster.workflows`): the
same code paths, so the numbers are the CLI's and a saved run is the folder the CLI writes
(``forecast predict --model`` serves it; :func:`load` loads a CLI run).

- **Keywords are config keys.** Every run setting of :data:`forecaster.config.SETTINGS` is a keyword
  named like its flag, dashes as underscores (``--horizon`` -> ``horizon``, ``--known-covariates`` ->
  ``known_covariates``); a misspelt one is a :class:`~forecaster.errors.KeywordError` (a ``TypeError``
  and a ``ConfigError``) with a "did you mean", never ignored. Error messages name the keyword where
  the CLI's name a flag (one mapping, :func:`python_message`).
- **Data** is a long-format DataFrame (any column names; the time column inferred as the CLI does, or
  the index), a Series with a ``DatetimeIndex``, or a file path; a frame goes through the checks a
  file does (:mod:`forecaster.data.load`) and is recorded as ``<DataFrame>`` with its content hash.
- **Quiet**: no TensorFlow or Keras log lines, nothing printed; ``verbose=True`` prints the progress
  lines the CLI shows. Notes about a result (an undefined MAPE, series left out) are
  :class:`ForecasterWarning`\\ s.
- **Nothing written until** :meth:`Run.save`: a run is trained into a temporary folder that goes
  with the result (TensorBoard logs are off unless ``tensorboard=True``).

Example:
    >>> import forecaster as fc  # doctest: +SKIP
    >>> cmp = fc.compare(df, target="sales", horizon=12, cells=["gru", "mlp"], epochs=20)  # doctest: +SKIP
    >>> cmp.recommended, cmp.forecast().shape  # doctest: +SKIP
    ('gru', (12, 6))
    >>> fc.load(cmp.save("models")).predict(horizon=6)  # doctest: +SKIP
"""


from forecaster.api.boundary import KEYWORDS, ForecasterWarning, python_message
from forecaster.api.calls import backtest, compare, load, train
from forecaster.api.model import Backtest, Model
from forecaster.api.results import Comparison, Run, Trained, recommended_row

__all__ = ["compare", "train", "backtest", "load", "Run", "Comparison", "Trained", "Model", "Backtest",
           "ForecasterWarning", "KEYWORDS", "python_message", "recommended_row"]
