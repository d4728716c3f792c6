"""The schedule loop with a fake clock, cron parsing, the heartbeat and `forecast health`."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode, HealthError
from forecaster.registry.schedule import Heartbeat, check_health, next_fire, parse_cron, run_schedule

UTC = timezone.utc


class FakeClock:
    """``clock()`` returns the fake time; ``wait(s)`` advances it instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.waited = 0.0

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        assert seconds > 0
        self.now += timedelta(seconds=seconds)
        self.waited += seconds
        return False


def sched_cfg(tmp_path: Path, cron: str = "0 3 * * *", every: float = 60.0) -> config.RunConfig:
    return config.resolve(overrides={
        "output.name": "sales", "output.models_dir": str(tmp_path / "models"), "schedule.cron": cron,
        "schedule.heartbeat": str(tmp_path / "hb.json"), "schedule.heartbeat_every": every,
    })


def run(tmp_path: Path, start: datetime, runs: int, *, last_run: datetime | None = None, fail: bool = False,
        cron: str = "0 3 * * *") -> list[datetime]:
    clock = FakeClock(start)
    calls: list[datetime] = []
    if last_run is not None:
        state = tmp_path / "models" / "sales" / "schedule.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"last_run": last_run.isoformat()}))

    def fake_retrain(cfg, *, progress, should_stop):
        calls.append(clock())
        clock.now += timedelta(minutes=7)  # a retrain takes time
        if fail:
            raise RuntimeError("boom")
        return SimpleNamespace(outcome="kept", reason="fake")

    n = run_schedule(sched_cfg(tmp_path, cron), stop=threading.Event(), clock=clock, wait=clock.wait,
                     retrain_fn=fake_retrain, max_runs=runs)
    assert n == runs
    return calls


def test_first_start_retrains_at_once_then_follows_the_cron(tmp_path):
    calls = run(tmp_path, datetime(2026, 1, 1, 10, 0, tzinfo=UTC), 3)
    assert calls == [datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
                     datetime(2026, 1, 3, 3, 0, tzinfo=UTC)]
    state = json.loads((tmp_path / "models" / "sales" / "schedule.json").read_text())
    assert state["last_run"] == "2026-01-03T03:00:00+00:00" and state["outcome"] == "kept: fake"


def test_downtime_gives_one_catch_up_run_not_a_burst(tmp_path):
    # last run on Jan 1st, back on Jan 5th at noon: four fires were missed, one catch-up runs
    calls = run(tmp_path, datetime(2026, 1, 5, 12, 0, tzinfo=UTC), 2,
                last_run=datetime(2026, 1, 1, 3, 0, tzinfo=UTC))
    assert calls == [datetime(2026, 1, 5, 12, 0, tzinfo=UTC), datetime(2026, 1, 6, 3, 0, tzinfo=UTC)]


def test_restart_without_a_missed_fire_waits_for_the_next_one(tmp_path):
    calls = run(tmp_path, datetime(2026, 1, 5, 12, 0, tzinfo=UTC), 1,
                last_run=datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    assert calls == [datetime(2026, 1, 6, 3, 0, tzinfo=UTC)]


def test_a_failing_retrain_does_not_end_the_loop(tmp_path):
    calls = run(tmp_path, datetime(2026, 1, 1, 10, 0, tzinfo=UTC), 2, fail=True, cron="*/5 * * * * *")
    assert calls == [datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 7, 5, tzinfo=UTC)]
    state = json.loads((tmp_path / "models" / "sales" / "schedule.json").read_text())
    assert state["outcome"] == "error: RuntimeError: boom"


def test_stop_event_ends_an_idle_loop_and_marks_the_heartbeat(tmp_path):
    stop = threading.Event()
    cfg = sched_cfg(tmp_path)
    state = tmp_path / "models" / "sales" / "schedule.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"last_run": datetime.now(UTC).isoformat()}))  # nothing due for hours
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    assert run_schedule(cfg, stop=stop, retrain_fn=lambda *a, **k: pytest.fail("must not retrain")) == 0
    assert time.monotonic() - t0 < 3
    body = json.loads((tmp_path / "hb.json").read_text())
    assert body["state"] == "stopped"
    with pytest.raises(HealthError, match="the scheduler stopped"):
        check_health(tmp_path / "hb.json", stale_after=300)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("every day", "expected a cron expression"),
        ("0 3 * * 1-5", "use day names (mon, tue, ..., sun) in the weekday field"),
        ("61 3 * * *", "invalid cron expression '61 3 * * *'"),
    ],
)
def test_bad_cron_is_one_clear_error(expr, message):
    with pytest.raises(ConfigError, match=None) as info:
        parse_cron(expr)
    assert message in str(info.value) and str(info.value).startswith("schedule.cron: ")


def test_cron_forms():
    start = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)  # a Thursday
    assert next_fire(parse_cron("0 3 * * *"), start) == datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    assert next_fire(parse_cron("0 3 * * mon-fri"), datetime(2026, 1, 2, 4, tzinfo=UTC)) == \
        datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    assert next_fire(parse_cron("*/2 * * * * *"), start) == start + timedelta(seconds=2)


def test_bad_cron_in_cli_exits_2_before_training(tmp_path, capsys):
    code = main(["schedule", "--cron", "0 3 * * 0", "--models-dir", str(tmp_path)])
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert "schedule.cron: use day names" in err and len(err.splitlines()) == 1


def test_heartbeat_thread_keeps_beating(tmp_path):
    hb = Heartbeat(tmp_path / "hb.json", every=0.05).start()
    try:
        first = json.loads((tmp_path / "hb.json").read_text())["unix"]
        deadline = time.monotonic() + 5
        while json.loads((tmp_path / "hb.json").read_text())["unix"] == first and time.monotonic() < deadline:
            time.sleep(0.02)
        later = json.loads((tmp_path / "hb.json").read_text())
        assert later["unix"] > first and later["state"] == "starting"
    finally:
        hb.stop(state="stopped")


def test_health_fresh_stale_missing(tmp_path, capsys):
    path = tmp_path / "hb.json"
    assert main(["health", "--heartbeat", str(path)]) == ExitCode.UNHEALTHY
    assert "no heartbeat file; is `forecast schedule` running?" in capsys.readouterr().err
    Heartbeat(path, every=60).beat(state="idle", next_run="2026-01-02T03:00:00+00:00")
    assert main(["health", "--heartbeat", str(path), "--max-age", "30"]) == 0
    assert capsys.readouterr().out.startswith("healthy: heartbeat 0s old, idle, next retrain 2026-01-02")
    stamp = json.loads(path.read_text())["unix"]
    with pytest.raises(HealthError, match=r"heartbeat is 400s old \(limit 300s, state idle\)"):
        check_health(path, stale_after=300, now=stamp + 400)
    path.write_text("{not json")
    assert main(["health", "--heartbeat", str(path)]) == ExitCode.UNHEALTHY
    err = capsys.readouterr().err.strip()
    assert "unreadable heartbeat" in err and len(err.splitlines()) == 1


def test_health_fails_when_a_retrain_is_stuck_though_the_thread_beats(tmp_path):
    path = tmp_path / "hb.json"
    hb = Heartbeat(path, every=60)
    hb.beat(state="retraining", progress_unix=time.time())
    assert check_health(path, stale_after=300).startswith("healthy: heartbeat 0s old, retraining")
    hb.touch()
    hb.beat()
    stamp = json.loads(path.read_text())["progress_unix"]
    with pytest.raises(HealthError, match="finished no batch for 301s"):
        check_health(path, stale_after=300, now=stamp + 301)
    hb.beat(state="idle")  # progress is only judged while retraining
    assert check_health(path, stale_after=300, now=stamp + 200)


def test_scheduled_retrain_touches_progress_between_batches(tmp_path):
    seen: list[float] = []

    def progress_on_disk() -> float:
        return json.loads((tmp_path / "hb.json").read_text())["progress_unix"]

    def fake_retrain(cfg, *, progress, should_stop):
        seen.append(progress_on_disk())  # written when the retrain started
        time.sleep(0.1)
        assert should_stop() is False  # what the training callback calls after every batch
        deadline = time.monotonic() + 5
        while progress_on_disk() == seen[0] and time.monotonic() < deadline:
            time.sleep(0.02)  # the heartbeat thread (every 0.05 s) writes the touch
        seen.append(progress_on_disk())
        return SimpleNamespace(outcome="kept", reason="fake")

    run_schedule(sched_cfg(tmp_path, every=0.05), stop=threading.Event(), retrain_fn=fake_retrain, max_runs=1)
    assert seen[1] - seen[0] >= 0.1


def test_health_and_models_list_never_import_tensorflow(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from forecaster.cli.main import main; "
        f"main(['health', '--heartbeat', {str(tmp_path / 'none.json')!r}]); "
        f"main(['models', 'list', '--name', 'x', '--models-dir', {str(tmp_path)!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_unwritable_models_folder_blocks_without_a_crash_loop(tmp_path, capsys):
    (tmp_path / "models").write_text("a file where the models folder should be")  # mkdir fails as for any uid
    clock, lines, calls = FakeClock(datetime(2026, 1, 1, 10, 0, tzinfo=UTC)), [], []
    n = run_schedule(sched_cfg(tmp_path), stop=threading.Event(), clock=clock, wait=clock.wait, log=lines.append,
                     retrain_fn=lambda *a, **k: calls.append(1), max_runs=2)
    assert n == 2 and calls == []  # two fires handled, no retrain attempted, no exception
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "models/sales: not writable by uid" in errors[0] and "chown -R" in errors[0]
    assert "not writable by uid" in json.loads((tmp_path / "hb.json").read_text())["error"]
    blocked = tmp_path / "blocked.json"  # what health reads while such a loop runs
    blocked.write_text(json.dumps({"state": "blocked", "unix": time.time(), "error": errors[0][7:]}))
    with pytest.raises(HealthError, match="cannot retrain: .*not writable by uid"):
        check_health(blocked, stale_after=300)


def test_schedule_writes_a_starting_heartbeat_before_the_slow_import(tmp_path, monkeypatch):
    import forecaster.cli.registry_commands as cli
    import forecaster.registry.schedule as schedule

    hb = tmp_path / "hb.json"
    hb.write_text(json.dumps({"state": "stopped", "unix": time.time(), "time": "earlier"}))
    seen = []
    monkeypatch.setattr(cli, "load_tensorflow", lambda args: seen.append(json.loads(hb.read_text())["state"]))
    monkeypatch.setattr(schedule, "run_schedule", lambda cfg, **kw: 0)
    assert main(["schedule", "--models-dir", str(tmp_path / "m"), "--name", "sales"]
                + ["--config", str(_write_cfg(tmp_path, hb))]) == 0
    assert seen == ["starting"]


def _write_cfg(tmp_path: Path, hb: Path) -> Path:
    import yaml

    path = tmp_path / "sched.yaml"
    path.write_text(yaml.safe_dump({"schedule": {"heartbeat": str(hb)}}))
    return path


def test_the_stop_watchdog_writes_the_last_heartbeat_and_exits_unless_disarmed(tmp_path):
    from forecaster.registry.schedule import StopWatchdog

    exits: list[int] = []
    hb = Heartbeat(tmp_path / "hb.json", every=60)
    hb.beat(state="retraining")
    dog = StopWatchdog(0.05, tmp_path / "unused.json", exit_code=0, hard_exit=exits.append)
    dog.live = hb
    dog.arm()
    dog.arm()  # a second signal: still one countdown
    dog.wait(5)
    assert exits == [0]
    body = json.loads((tmp_path / "hb.json").read_text())
    assert body["state"] == "stopped" and body["stopped_by"] == "watchdog"
    hb.beat(state="retraining")  # the loop's own thread, too late: the last state stays
    assert json.loads((tmp_path / "hb.json").read_text())["state"] == "stopped"
    assert not (tmp_path / "unused.json").exists()

    calm = StopWatchdog(0.05, tmp_path / "calm.json", hard_exit=exits.append)
    calm.arm()
    calm.disarm()  # the loop returned in time
    calm.wait(5)
    assert exits == [0] and not (tmp_path / "calm.json").exists()


def test_schedule_restores_the_signal_handlers_when_it_returns(tmp_path, monkeypatch):
    import signal

    import forecaster.cli.registry_commands as cli
    import forecaster.registry.schedule as schedule

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen = []
    monkeypatch.setattr(cli, "load_tensorflow", lambda args: None)
    monkeypatch.setattr(schedule, "run_schedule", lambda cfg, **kw: seen.append(signal.getsignal(signal.SIGTERM)))
    assert main(["schedule", "--models-dir", str(tmp_path / "m"), "--name", "sales"]
                + ["--config", str(_write_cfg(tmp_path, tmp_path / "hb.json"))]) == 0
    assert seen and seen[0] not in before  # the stop handler while the loop ran
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# A retrain step that never polls the stop event (a statistical fit, data loading, export): the
# process must still end with exit code 0 within STOP_GRACE, its heartbeat saying stopped.
_BLOCKING_SCHEDULE = """
import sys, time
from pathlib import Path
import forecaster.cli.registry_commands as cli
import forecaster.registry.retrain as registry
from forecaster.cli.main import main

def blocking_retrain(cfg, *, progress, should_stop):
    Path(sys.argv[2]).write_text("started")
    time.sleep(600)  # ignores should_stop

cli.load_tensorflow = lambda args: None  # not needed by the fake retrain; keeps the test fast
registry.retrain = blocking_retrain
sys.exit(main(["schedule", "--config", sys.argv[1], "--quiet"]))
"""


@pytest.mark.slow
def test_sigterm_during_a_step_that_does_not_poll_exits_0_within_the_grace(tmp_path):
    import subprocess
    import sys

    import yaml

    from forecaster.registry.schedule import STOP_GRACE

    from conftest import sigterm_while_retraining

    cfg = tmp_path / "sched.yaml"
    cfg.write_text(yaml.safe_dump({
        "output": {"name": "sales", "models_dir": str(tmp_path / "models")},
        "schedule": {"cron": "0 3 * * *", "heartbeat": str(tmp_path / "hb.json"), "heartbeat_every": 0.2},
    }))
    started = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_SCHEDULE, str(cfg), str(started)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the fake retrain never started"
            time.sleep(0.05)
        err, elapsed = sigterm_while_retraining(proc, tmp_path / "hb.json")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert STOP_GRACE - 0.5 < elapsed < STOP_GRACE + 2.5, f"stopped after {elapsed:.1f}s"
    assert "received SIGTERM" in err and f"still busy {STOP_GRACE:g}s after the stop request" in err
    assert "Traceback" not in err
    body = json.loads((tmp_path / "hb.json").read_text())
    assert body["state"] == "stopped" and body["stopped_by"] == "watchdog"
    with pytest.raises(HealthError, match="the scheduler stopped"):
        check_health(tmp_path / "hb.json", stale_after=300)
