"""The comparison report: ``report.md``, a self-contained ``report.html`` and ``plots/*.png``.

Plots (matplotlib figures made outside pyplot: no display needed, and no global backend chosen or changed, so a
notebook that ran a comparison keeps drawing inline):

- ``loss.png``: training (dashed) and validation (solid) loss per epoch, every cell on one chart;
- ``test_forecast.png``: the end of the test period, actuals against each cell's and the
  seasonal-naive one-step-ahead forecasts, with the best cell's conformal intervals shaded;
- ``future_forecast.png``: the end of the series and the served row's forecast past it (the
  verdict's recommended row, whatever its kind), with its intervals;
- ``horizon_error.png``: MAE by horizon step for every cell and baseline;
- ``accuracy_vs_time.png``: MASE (mean ± std over seeds) beside training time, per cell.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.evaluation import intervals
from forecaster.evaluation.scoring import series_table
from forecaster.evaluation.tables import (
    COVERED_NOTE,
    Section,
    Served,
    fold_table,
    plain,
    spread_note,
    steps_ahead,
    table_rows,
)
from forecaster.fs import atomic_write_text
from forecaster.models.naive import seasonal_naive

__all__ = ["write_report", "PLOTS", "PANEL_PLOTS", "Served", "steps_ahead", "fold_table", "table_rows"]

#: A run's plots (one series).
PLOTS = ("loss.png", "test_forecast.png", "future_forecast.png", "horizon_error.png", "accuracy_vs_time.png")
#: A panel run's plots: per-series MASE of every row, and the forecasts of three series.
PANEL_PLOTS = ("series_mase.png", "series_forecasts.png")


def _kept(trials: Sequence[Any]) -> dict[str, Any]:
    best: dict[str, Any] = {}
    for t in trials:
        if t.name not in best or t.result.fit.best_val_loss < best[t.name].result.fit.best_val_loss:
            best[t.name] = t
    return best


def _best_calibrated(kept: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Any:
    """The kept trial with intervals whose row has the lowest MASE (its bands are drawn), or ``None``."""
    mase = {r["name"]: float(r["mase"]) for r in rows if r.get("kind") == "model" and r.get("mase") is not None}
    ranked = [t for name, t in kept.items() if t.result.calibration is not None and name in mase]
    return min(ranked, key=lambda t: mase[t.name]) if ranked else None


def _shade(ax: Any, x: Any, yhat: np.ndarray, cal: Any, color: str, name: str, *, along: str = "origins") -> None:
    """Shade each calibrated level around ``yhat`` (``(n, 1)``: one step at many origins, or ``(h, 1)``:
    the steps of one forecast, ``along="steps"``), widest first and lightest."""
    for level in sorted(cal.levels, reverse=True):
        r = np.asarray(cal.radius_of(level))
        radius = r[: len(yhat)] if along == "steps" else np.full(len(yhat), r[0])
        mid = yhat[:, 0]
        ax.fill_between(x, mid - radius, mid + radius, color=color, alpha=0.12 if level >= 90 else 0.22, lw=0,
                        label=f"{name} {level}% interval")


#: Markers and line styles that tell overlapping cells apart (colour alone does not, in print or for
#: colour-blind readers).
_MARKERS = ("o", "s", "^", "D", "v", "P")
_CELL_STYLES = ("-", "--", "-.", ":")


def _unit(prep: Any) -> str:
    """The y-axis label: the target column (its name is the only unit a file carries)."""
    return str(prep.series.target)


def _subplots(*grid: int, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure and its axes, made without pyplot: nothing to close, and the process's backend untouched
    (``matplotlib.use("Agg")`` here once turned a notebook's inline plots off for the rest of its session)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid)


def _dates(ax: Any) -> None:
    """Dates with the year on a time axis (concise: the year once in the offset when it does not change)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=True))


#: Line styles for baseline rows in the plots (gray, told apart by dash pattern).
_BASELINE_STYLES: tuple[Any, ...] = ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 4)))


def _row_label(name: str, kind: str) -> str:
    return name.replace("_", " ") if kind == "baseline" else name.upper()


def _draw_served(ax: Any, fc: Any, name: str, color: str) -> None:
    """The served row's forecast and its intervals (as predict writes them: bounds clipped at 0 where the
    calibration says so), widest level lightest."""
    lows = sorted((c for c in fc.columns if str(c).startswith("lo-")), key=lambda c: -int(str(c)[3:]))
    for lo in lows:
        level = int(str(lo)[3:])
        ax.fill_between(fc["timestamp"], fc[lo], fc[f"hi-{level}"], color=color, alpha=0.12 if level >= 90 else 0.22,
                        lw=0, label=f"{name} {level}% interval")
    ax.plot(fc["timestamp"], fc["yhat"], color=color, marker="o", ms=3, label=f"{name} forecast (served)")


def _plots(out: Path, *, prep: Any, rows: Sequence[dict[str, Any]], trials: Sequence[Any], base: dict[str, Any],
           served: Served | None = None) -> None:
    from matplotlib.ticker import MaxNLocator

    kept = _kept(trials)
    colors = {cell: f"C{i}" for i, cell in enumerate(kept)}
    markers = {cell: _MARKERS[i % len(_MARKERS)] for i, cell in enumerate(kept)}
    out.mkdir(exist_ok=True)
    unit = _unit(prep)

    fig, ax = _subplots(figsize=(8, 4.5))
    for cell, t in kept.items():
        h = t.result.fit.history
        ax.plot(h["epoch"], h["loss"], "--", color=colors[cell], label=f"{cell} train")
        ax.plot(h["epoch"], h["val_loss"], "-", color=colors[cell], marker=markers[cell], ms=3,
                label=f"{cell} validation")
        ax.axvline(t.result.fit.best_epoch, color=colors[cell], alpha=0.35, lw=1, ls=":",
                   label=f"{cell} best epoch ({t.result.fit.best_epoch}, kept)")
    ax.set(title="Training and validation loss (MSE on scaled data)", xlabel="epoch", ylabel="loss", yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)

    sp = prep.split
    first = sp.first_targets("test")
    shown = slice(max(0, len(first) - max(4 * prep.season, 96)), len(first))
    index = prep.series.frame.index[first[shown]]
    fig, ax = _subplots(figsize=(10, 4.5))
    ax.plot(index, prep.y[first[shown]], color="black", lw=2, label="actual")
    snaive = seasonal_naive(prep.y, first, sp.horizon, season=prep.season)
    ax.plot(index, snaive[shown, 0], ":", color="gray", label="seasonal naive")
    best = _best_calibrated(kept, rows)
    if best is not None and best.result.test_pred is not None:
        _shade(ax, index, best.result.test_pred[shown, :1], best.result.calibration, colors[best.name], best.name)
    for i, (cell, t) in enumerate(kept.items()):
        if t.result.test_pred is not None:  # overlapping cells told apart by line style and marker
            ax.plot(index, t.result.test_pred[shown, 0], color=colors[cell], alpha=0.85, label=cell,
                    linestyle=_CELL_STYLES[i % len(_CELL_STYLES)], marker=markers[cell], ms=2.5, markevery=6)
    ax.set(title="Test period: actuals vs one-step-ahead forecasts", xlabel=prep.series.time_col, ylabel=unit)
    ax.legend(fontsize=8)
    _dates(ax)
    fig.tight_layout()
    fig.savefig(out / "test_forecast.png", dpi=110)

    fig, ax = _subplots(figsize=(10, 4.5))
    tail = slice(max(0, sp.n - max(3 * prep.season, 3 * sp.horizon, 48)), sp.n)
    ax.plot(prep.series.frame.index[tail], prep.y[tail], color="black", lw=2, label="actual")
    if served is not None and len(served.forecast):
        _draw_served(ax, served.forecast, served.name, colors.get(served.name, "C3"))
        title = f"Forecast past the end of the series by {_row_label(served.name, served.kind)}, the row served"
    else:
        title = "Forecast past the end of the series"
    ax.set(title=f"{title} ({sp.horizon} steps)", xlabel=prep.series.time_col, ylabel=unit)
    ax.legend(fontsize=8)
    _dates(ax)
    fig.tight_layout()
    fig.savefig(out / "future_forecast.png", dpi=110)

    steps = np.arange(1, sp.horizon + 1)
    fig, ax = _subplots(figsize=(8, 4.5))
    for cell, t in kept.items():
        ax.plot(steps, t.result.scores["per_step_mae"], marker=markers[cell], ms=3, color=colors[cell], label=cell)
    scored = [(name, b) for name, b in base.items() if b.get("per_step_mae") is not None]
    for (name, b), style in zip(scored, _BASELINE_STYLES):
        ax.plot(steps, b["per_step_mae"], linestyle=style, color="gray", label=name.replace("_", " "))
    ax.set(title="Test MAE by horizon step", xlabel=steps_ahead(prep.series.freq), ylabel=f"MAE, {unit}")
    drawn = np.concatenate([np.asarray(line.get_ydata(), dtype=np.float64) for line in ax.get_lines()] or [np.ones(1)])
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    if drawn.size and drawn.max() > 20 * drawn.min():  # one far-off baseline would flatten every other line
        ax.set_yscale("log")
        ax.set_ylabel(f"MAE, {unit} (log scale)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "horizon_error.png", dpi=110)

    models = [r for r in rows if r["kind"] == "model"]
    names = [r["name"] for r in models]
    fig, (a1, a2) = _subplots(1, 2, figsize=(10, 4.5))
    a1.bar(names, [r["mase"] or 0 for r in models], yerr=[r.get("mase_std") or 0 for r in models],
           color=[colors.get(n, "C9") for n in names], capsize=4)
    top = 2 * max([r["mase"] for r in models if r.get("mase") is not None] or [1.0])
    lines = [b for b in rows if b["kind"] == "baseline" and b.get("mase") is not None]
    for r, style in zip(lines, _BASELINE_STYLES):
        if r["mase"] <= top:  # a baseline far above every network would flatten the bars: named, not drawn
            a1.axhline(r["mase"], ls=style, color="gray", label=f"{r['name'].replace('_', ' ')} {r['mase']:.3f}")
    off = [f"{r['name'].replace('_', ' ')} {r['mase']:.2f}" for r in lines if r["mase"] > top]
    if off:
        a1.set_xlabel("off the chart: " + ", ".join(off), fontsize=8)
    a1.set(title="Accuracy: test MASE (lower is better)", ylabel="MASE")
    a1.legend(fontsize=8)
    a2.bar(names, [r["train_seconds"] for r in models], color=[colors.get(n, "C9") for n in names])
    a2.set(title="Cost: training time per run", ylabel="seconds")
    fig.suptitle("Accuracy against training time")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_time.png", dpi=110)



def _caption(served: Served | None) -> str:
    """Which row the future forecasts drawn are: the one ``forecast predict`` serves, and why."""
    if served is None:
        return ""
    return f"The future forecast drawn is {served.name}'s: the row `forecast predict` serves ({served.why})."


def _markdown(rows: Sequence[dict[str, Any]], verdict: str, conditions: dict[str, Any],
              plots: Sequence[str] = PLOTS, sections: Sequence[Section] = (), caption: str = "") -> str:
    header, body = table_rows(rows)
    lines = ["# Comparison report", "", f"**Verdict.** {verdict}", "", "## Leaderboard", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines += ["", spread_note(rows), "", COVERED_NOTE]
    for title, head, cells, note in sections:
        lines += ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                  *["| " + " | ".join(r) + " |" for r in cells], "", note]
    lines += ["", "## Conditions (identical for every cell)", "", "| condition | value |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {plain(v)} |" for k, v in conditions.items()]
    lines += ["", "## Plots", ""] + ([caption, ""] if caption else [])
    lines += [f"![{name}](plots/{name})" for name in plots]
    return "\n".join(lines) + "\n"


def _flags_unbroken(text: str) -> str:
    """Escaped ``text`` with each ``--flag`` in a non-wrapping ``<code>`` (a line never breaks inside it)."""
    import re

    return re.sub(r"(--[a-z][a-z-]*)", r'<code class="flag">\1</code>', html.escape(text))


def _html_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    esc = html.escape
    return ("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in body) + "</table>")


def _html(rows: Sequence[dict[str, Any]], verdict: str, conditions: dict[str, Any], plots: Path,
          names: Sequence[str] = PLOTS, sections: Sequence[Section] = (), caption: str = "") -> str:
    header, body = table_rows(rows)
    esc = html.escape
    table = _html_table(header, body)
    extra = "".join(f"<h2>{esc(title)}</h2><div class='wide'>{_html_table(head, cells)}</div><p>{esc(note)}</p>"
                    for title, head, cells, note in sections)
    conds = ("<table class='conditions'><tr><th>condition</th><th>value</th></tr>"
             + "".join(f"<tr><td>{esc(k.replace('_', ' '))}</td><td>{esc(plain(v))}</td></tr>"
                       for k, v in conditions.items()) + "</table>")
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode((plots / name).read_bytes()).decode()}"></figure>'
        for name in names
    )
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
             "text-align:right;white-space:nowrap}td:first-child,th:first-child{text-align:left}"
             "table.conditions td,table.conditions th{text-align:left;white-space:normal}"
             "code.flag{white-space:nowrap}div.wide{overflow-x:auto}"
             "img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Comparison report</title>"
            f"<style>{style}</style></head><body><h1>Comparison report</h1>"
            f"<p><b>Verdict.</b> {_flags_unbroken(verdict)}</p>"
            f"<h2>Leaderboard</h2><div class='wide'>{table}</div><p>{esc(spread_note(rows))}</p>"
            f"<p>{esc(COVERED_NOTE)}</p>{extra}"
            f"<h2>Conditions (identical for every cell)</h2>{conds}<h2>Plots</h2>"
            + (f"<p>{_flags_unbroken(caption)}</p>" if caption else "") + f"{images}</body></html>\n")


def _tune_plots(run_dir: Path) -> list[str]:
    """The tuning plots ``compare --tune`` wrote (``workflows.tune``): optimisation history, parameter importances."""
    return sorted(p.name for p in (run_dir / "plots").glob("tune-*.png"))


def write_report(
    run_dir: Path,
    *,
    prep: Any,
    rows: Sequence[dict[str, Any]],
    verdict: str,
    conditions: dict[str, Any],
    trials: Sequence[Any],
    base: dict[str, Any],
    scored: Sequence[Any] = (),
    served: Served | None = None,
    backtests: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """Write ``plots/*.png``, ``report.md`` and ``report.html`` into ``run_dir``: for a file of one series its
    test and future forecasts (the future: ``served``, the row ``forecast predict`` serves); for a panel the
    per-series results (``scored``: every row scored per series) beside the served row's forecasts; with
    ``backtests`` (a comparison's, per cell the seeds' ``BacktestResult.to_dict()``) the per-fold table."""
    folds = fold_table(backtests, rows)
    sections = [folds] if folds is not None else []
    if prep.panel.id_col is not None:
        kept = [t.result for t in _kept(trials).values()]
        _panel_report(run_dir, prep=prep, rows=rows, verdict=verdict, conditions=conditions,
                      table=series_table(prep, scored), kept=kept, served=served, sections=sections)
        return
    _plots(run_dir / "plots", prep=prep.single, rows=rows, trials=trials, base=base, served=served)
    caption = _caption(served)
    names = (*PLOTS, *_tune_plots(run_dir))
    atomic_write_text(run_dir / "report.md", _markdown(rows, verdict, conditions, names, sections=sections,
                                                       caption=caption))
    atomic_write_text(run_dir / "report.html", _html(rows, verdict, conditions, run_dir / "plots", names, sections=sections,
                                                     caption=caption))


def _series_section(table: Any, rows: Sequence[dict[str, Any]], id_col: str, served: Served | None,
                    limit: int = 20) -> tuple[Section | None, Any]:
    """The per-series results of the served (recommended) row beside the best baseline (and, when the served row is
    a baseline, the best network), with its per-series interval coverage: (the section, the MASE frame)."""
    ranked = [r for r in rows if r.get("mase") is not None and not r.get("error")]
    if not ranked or table.empty:
        return None, None
    lead = served.name if served is not None else ranked[0]["name"]
    kind = str(next((r.get("kind") for r in ranked if r["name"] == lead), "model"))
    baseline = next((r["name"] for r in ranked if r.get("kind") == "baseline" and r["name"] != lead), None)
    network = next((r["name"] for r in ranked if r.get("kind") == "model"), None) if kind == "baseline" else None
    wide = table.pivot_table(index=id_col, columns="name", values="mase", aggfunc="first")
    keep = [c for c in dict.fromkeys([lead, baseline, network]) if c is not None and c in wide.columns]
    if lead not in keep:
        return None, None
    wide = wide[keep].sort_values(lead, ascending=False)
    mine = table[table["name"] == lead].set_index(id_col)
    covered = [c for c in table.columns if str(c).startswith("coverage_") and mine[c].notna().any()]
    label = _row_label(lead, kind)
    beats = ""
    if baseline is not None:
        both = wide[[lead, baseline]].dropna()
        beats = (f"{label} has a lower MASE than {baseline.replace('_', ' ')} (the best other baseline) on "
                 f"{int((both[lead] < both[baseline]).sum())} of {len(both)} series. ")
    if covered:
        short = {c: int((mine[c] < int(c.rpartition('_')[2]) / 100).sum()) for c in covered}
        beats += "Its intervals cover less than nominal on " + ", ".join(
            f"{n} series at {c.rpartition('_')[2]}%" for c, n in short.items()) + f" (of {len(mine)}). "
    title = (f"Per series: MASE of {label} (the row served) and "
             f"{', '.join(c.replace('_', ' ') if c != network else c.upper() for c in keep[1:]) or 'no other row'}, "
             f"worst {min(limit, len(wide))} first")
    note = beats + f"Every row on every series is in series_metrics.csv ({len(wide)} series)."
    shown = wide.head(limit)
    header = [id_col, *[f"{c.replace('_', ' ')} MASE" for c in shown.columns],
              *[f"{label} {c.rpartition('_')[2]}% covered" for c in covered]]
    body = [[str(i), *["-" if v != v else f"{v:.3f}" for v in r],
             *["-" if mine.loc[i, c] != mine.loc[i, c] else intervals.percent(float(mine.loc[i, c])) for c in covered]]
            for i, r in zip(shown.index, shown.to_numpy())]
    return (title, header, body, note), wide


def _panel_plots(out: Path, *, pp: Any, table: Any, wide: Any, kept: Sequence[Any], served: Served | None = None) -> None:

    out.mkdir(parents=True, exist_ok=True)
    id_col = pp.panel.id_col
    names = list(dict.fromkeys(table["name"]))
    data = [table.loc[table["name"] == n, "mase"].dropna().to_numpy() for n in names]
    fig, ax = _subplots(figsize=(9, 4.5))
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), [n.replace("_", " ") for n in names], rotation=20)
    ax.set_ylabel("test MASE per series")
    ax.set_title(f"MASE of every row on each of {len(pp.items)} series (lower is better)")
    if any(d.size and d.max() > 20 * max(np.median(d), 1e-9) for d in data):
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out / PANEL_PLOTS[0], dpi=100)

    drawn = served if served is not None else next(
        (Served(k.name, "model", k.forecast, k.calibration, "") for k in kept), None)
    fig, axes = _subplots(1, 3, figsize=(13, 3.8))
    picks: list[str] = []
    if wide is not None and len(wide):
        order = list(wide.index)  # worst first
        picks = list(dict.fromkeys([order[-1], order[len(order) // 2], order[0]]))
    by_id = {str(p.series_id): p for p in pp.items}
    for ax, sid, label in zip(axes, picks, ("best", "median", "worst")):
        item = by_id[sid]
        s = item.series
        tail = s.frame[s.target].iloc[-max(3 * pp.split.horizon, 48):]
        ax.plot(tail.index, tail.to_numpy(), color="black", lw=1, label="actual")
        if drawn is not None and len(drawn.forecast):
            fc = drawn.forecast[drawn.forecast[id_col].astype(str) == sid]
            ax.plot(fc["timestamp"], fc["yhat"], color="tab:blue", lw=1.5, label=f"{drawn.name} forecast (served)")
            lo = [c for c in fc.columns if c.startswith("lo-")]
            if lo:
                ax.fill_between(fc["timestamp"], fc[lo[-1]], fc["hi-" + lo[-1][3:]], color="tab:blue", alpha=0.2,
                                label=f"{lo[-1][3:]}% interval")
        ax.set_title(f"{sid} ({label} MASE of {drawn.name if drawn is not None else 'the row'})", fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        _dates(ax)
    for ax in axes[len(picks):]:
        ax.axis("off")
    if picks:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / PANEL_PLOTS[1], dpi=100)


def _panel_report(run_dir: Path, *, prep: Any, rows: Sequence[dict[str, Any]], verdict: str,
                  conditions: dict[str, Any], table: Any, kept: Sequence[Any], served: Served | None = None,
                  sections: Sequence[Section] = ()) -> None:
    """A panel run's report: the pooled leaderboard, the per-series results and two plots."""
    section, wide = _series_section(table, rows, prep.panel.id_col, served)
    every = [*sections, *([section] if section is not None else [])]
    _panel_plots(run_dir / "plots", pp=prep, table=table, wide=wide, kept=kept, served=served)
    caption = _caption(served)
    names = (*PANEL_PLOTS, *_tune_plots(run_dir))
    atomic_write_text(run_dir / "report.md", _markdown(rows, verdict, conditions, names, every, caption))
    atomic_write_text(run_dir / "report.html", _html(rows, verdict, conditions, run_dir / "plots", names, every,
                                                     caption))
