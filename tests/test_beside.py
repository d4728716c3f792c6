"""Statistical baselines scored in a forked worker beside the networks, and a local row's series fanned out to
worker processes (issue 31): the same numbers as scoring them here, one after the other; a worker that dies,
hangs or is left running never costs a row."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from test_panel import panel_frame

from forecaster.models import local
from forecaster.models.catalog import line_up
from forecaster.workflows import beside
from forecaster.workflows.train import prepare_run, score_baselines, start_baselines

from conftest import small_cfg

BASELINES = ["naive", "ets", "theta"]


@pytest.fixture
def prep(write_csv, tmp_path):
    frame = panel_frame(lengths=(150, 130, 140, 120), starts_h=(0, 5, 10, 0))
    cfg = small_cfg(write_csv(frame), tmp_path / "models", **{"data.id_col": "store", "model.baselines": BASELINES})
    return cfg, prepare_run(cfg)


@pytest.fixture
def beside_always(monkeypatch):
    """Every run is large enough, on a machine of two cores, for the worker."""
    monkeypatch.setattr(beside, "MIN_SERIES", 1)
    monkeypatch.setattr(beside, "_cores", lambda: 2)


def _same(a, b):
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        keys = [k for k in x.scores if "seconds" not in k]
        assert {k: x.scores[k] for k in keys} == {k: y.scores.get(k) for k in keys}, x.name
        for p, q in zip(x.preds, y.preds):
            np.testing.assert_array_equal(p, q)


def test_rows_scored_beside_the_networks_are_the_rows_scored_here(prep, beside_always):
    cfg, p = prep
    lines: list[str] = []
    started = start_baselines(p, cfg, lines.append)
    assert started.process is not None and started.process.pid != os.getpid()
    got = started.collect()
    assert started.process is None  # joined
    _same(got, score_baselines(p, cfg))
    assert any("ets, theta: fitting" in line and "beside the networks" in line for line in lines)
    assert any(line.startswith("baseline ets:") and "beside the networks" in line for line in lines)
    # the saved rows carry their fitted models and calibration, as the serial path's
    ets = next(s for s in got if s.name == "ets")
    assert ets.calibration is not None and ets.model.models_


def test_a_small_run_is_scored_here(prep, monkeypatch):
    cfg, p = prep
    monkeypatch.setattr(beside, "_cores", lambda: 2)
    started = start_baselines(p, cfg)  # 4 series of ~100 rows: under MIN_ROWS and MIN_SERIES
    assert started.process is None
    assert [s.name for s in started.collect()] == BASELINES


def _dies(*args):
    os._exit(3)


def _hangs(*args):
    time.sleep(3600)


@pytest.mark.parametrize("child, why", [(_dies, "the worker stopped (exit code 3)"),
                                        (_hangs, "the worker did not start within 1 s")])
def test_a_worker_that_dies_or_never_starts_is_replaced_by_scoring_here(prep, beside_always, monkeypatch, child, why):
    cfg, p = prep
    monkeypatch.setattr(beside, "_child", child)
    monkeypatch.setattr(beside, "START_S", 1.0)
    lines: list[str] = []
    started = start_baselines(p, cfg, lines.append)
    proc = started.process
    got = started.collect()
    assert not proc.is_alive()
    assert f"baseline ets, theta: scoring here instead ({why})" in lines
    _same(got, score_baselines(p, cfg))


def test_no_fork_here_means_the_rows_are_scored_here(prep, beside_always, monkeypatch):
    cfg, p = prep

    def refuse(self, prep):
        raise OSError("fork: Resource temporarily unavailable")

    monkeypatch.setattr(beside.Baselines, "_start", refuse)
    lines: list[str] = []
    got = start_baselines(p, cfg, lines.append).collect()
    assert ("baselines: no worker process beside the networks (OSError: fork: Resource temporarily unavailable); "
            "scoring them here") in lines
    assert not any("beside the networks" in line for line in lines if line.startswith("baseline "))
    _same(got, score_baselines(p, cfg))


def _report_worker_settings(conn):
    import ctypes
    import signal

    local.die_with_parent()
    sig = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG
    conn.send((os.nice(0), sig.value, signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
               signal.getsignal(signal.SIGTERM) == signal.SIG_DFL))
    conn.close()


@pytest.mark.skipif(not local.can_fork(), reason="forked workers are Linux only")
def test_a_worker_is_niced_dies_with_its_parent_and_leaves_it_the_signals():
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    before = os.nice(0)
    proc = ctx.Process(target=_report_worker_settings, args=(child,))
    proc.start()
    nice, deathsig, ignores_int, default_term = parent.recv()
    proc.join(10)
    assert nice == min(19, before + 10) and deathsig == signal.SIGKILL and ignores_int and default_term


def test_a_run_that_fails_before_collecting_stops_its_worker(prep, beside_always, monkeypatch):
    cfg, p = prep
    monkeypatch.setattr(beside, "_child", _hangs)
    with pytest.raises(RuntimeError, match="a network failed"), start_baselines(p, cfg) as started:
        proc = started.process
        raise RuntimeError("a network failed")
    assert not proc.is_alive()


def test_a_local_row_fanned_out_to_workers_fits_as_here(prep, monkeypatch):
    _cfg, p = prep
    here = line_up(["ets"])[0].fit(p)
    monkeypatch.setattr(local, "ETA_SAMPLE", 1)
    monkeypatch.setattr(local, "FAN_OUT_AFTER_S", 0.0)
    monkeypatch.setattr("forecaster.models.network.hardware.cpu_cores", lambda: 2)
    spread = []
    original = local.PerSeries._fan_out
    monkeypatch.setattr(local.PerSeries, "_fan_out", lambda self, *a: spread.append(a[1]) or original(self, *a))
    there = line_up(["ets"])[0].fit(p)
    assert spread == [range(1, 4)]  # series 0 fitted here, the 3 others by the workers
    for item in p.items:
        a, b = here.on(item), there.on(item)
        np.testing.assert_array_equal(a.predict(item.values, item.origins("test"), 4),
                                      b.predict(item.values, item.origins("test"), 4))
    assert set(there.fit_seconds_) == set(p.ids)
    # the workers fitted each series' calibration twin too, on its training rows
    assert all(there.on(item).twin_.n_fit_ == item.split.train_end for item in p.items[1:])
