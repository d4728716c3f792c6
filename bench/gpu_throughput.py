"""Training throughput on a GPU (cuDNN LSTM), when one exists; says so and exits 0 when not.

Runs the same comparison as ``train_throughput.py`` (forecaster's tf.data pipeline against
the blog recipe, same series and network) on the first GPU TensorFlow sees. The default LSTM
and GRU layers are cuDNN-eligible (``tests/test_architectures.py`` asserts it), so on a GPU
they take the fused kernel; the blog recipe's ``activation='relu'`` does not.

Usage: ``python bench/gpu_throughput.py [--json PATH]``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, info, row

__all__ = ["main"]


def main() -> None:
    from forecaster._runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("gpu_throughput: no GPU visible to TensorFlow (tensorflow-cpu or no device): skipped", file=sys.stderr)
        emit([info("gpu: training windows/s vs blog recipe", "skipped: no GPU")])
        return
    import train_throughput as tt

    from forecaster import pipeline

    cfg = tt.config()
    prep = pipeline.prepare(cfg)
    sweep = {b: tt.sweep_point(prep, batch=b, jit=False)[0] for b in (256, 1024, 4096)}
    blog = tt.blog_recipe(prep, cfg.training.epochs, cfg.training.patience)
    mine = tt.ours(prep, cfg)
    emit([
        row("gpu: training windows/s vs blog recipe", mine["wps"] / blog["wps"], 4.0, "x", better="higher"),
        row("gpu: test MASE (ours <= blog)", mine["mase"], blog["mase"], "", better="lower", digits=3),
        info("  gpu batch sweep (windows/s)", ", ".join(f"{b}: {v:.0f}" for b, v in sweep.items()), gpus[0].name),
    ])


if __name__ == "__main__":
    main()
