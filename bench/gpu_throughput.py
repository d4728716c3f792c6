"""Training throughput on a GPU (cuDNN LSTM), when one exists; says so and exits 0 when not.

Runs the same comparison as ``train_throughput.py`` (forecaster's tf.data pipeline against
the blog recipe, same series and network) on the first GPU TensorFlow sees. The default LSTM
and GRU layers are cuDNN-eligible (``tests/test_architectures.py`` asserts it), so on a GPU
they take the fused kernel; the blog recipe's ``activation='relu'`` does not.

The project installs ``tensorflow-cpu``; on a GPU machine install the GPU build first
(``pip install 'tensorflow[and-cuda]==2.21.0'``). Not run on this project's 2-core CPU machine.

Usage: ``python bench/gpu_throughput.py [--json PATH]``
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, info, row

__all__ = ["main"]


def main() -> None:
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("gpu_throughput: no GPU visible to TensorFlow (tensorflow-cpu or no device): skipped", file=sys.stderr)
        emit([info("gpu: training windows/s vs blog recipe", "skipped: no GPU")])
        return
    import train_throughput as tt

    from forecaster.models.network import training
    from forecaster.workflows.train import prepare_run

    cfg = tt.config()
    prep = prepare_run(cfg)
    n_train = len(prep.split.starts("train"))
    data = tt.blog_windows(prep)
    (x, y), (xv, yv), _ = data
    blog = tt.blog_model()

    def ours(batch: int) -> tt.Contender:
        model = tt.our_model(prep, cfg, batch_size=batch)  # on a GPU: no shards, no XLA (cuDNN kernels)
        train = prep.dataset("train", batch_size=batch, shuffle=True, seed=42)
        val = prep.dataset("val", batch_size=batch)
        inputs = training.fit_inputs(model, train, val)
        return lambda out, epochs: tt.fit_timed(model, inputs, out, epochs)

    default = tt.default_batch(prep, cfg)
    contenders: dict[str, tt.Contender] = {
        "blog": lambda out, epochs: blog.fit(x, y, batch_size=32, epochs=epochs, validation_data=(xv, yv), verbose=0,
                                             callbacks=[tt.epoch_timer(out)])}
    contenders.update({f"ours {b}": ours(b) for b in sorted({default, 256, 1024, 4096})})
    wps = {name: n_train / statistics.median(t) for name, t in tt.interleaved(contenders, rounds=5).items()}
    blog_full = tt.blog_full(prep, data, cfg.training.epochs, cfg.training.patience)
    mine = tt.ours_full(prep, cfg)
    emit([
        row("gpu: training windows/s vs blog recipe", wps[f"ours {default}"] / wps["blog"], 4.0, "x", better="higher"),
        row("gpu: test MASE (ours <= blog)", mine["mase"], blog_full["mase"], "", better="lower", digits=3),
        info("  gpu batch sweep (windows/s)", ", ".join(f"{b.split()[1]}: {v:.0f}" for b, v in wps.items()
                                                       if b != "blog"), gpus[0].name),
    ])


if __name__ == "__main__":
    main()
