"""Import TensorFlow without its C++ start-up banner on the user's terminal.

TensorFlow 2.21 logs oneDNN/absl notices from C++ during import and device set-up, before
``TF_CPP_MIN_LOG_LEVEL`` is honoured. The CLI calls :func:`import_tensorflow_quietly` once
before any command that builds or runs a model: file descriptor 2 points at ``/dev/null`` only
for the import and the first op, and is restored even if the import fails (the error is then
raised normally). ``--debug`` skips it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["import_tensorflow_quietly"]


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras and initialise the CPU device with stderr muted."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        _ = tf.constant(0.0) + 1.0  # device set-up logs too
        tf.get_logger().setLevel("ERROR")  # e.g. retracing notices when several models predict in turn
        import keras  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
