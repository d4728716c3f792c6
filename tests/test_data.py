"""Every validation error: one line naming the file/column/row, exit code 3, nothing saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.data.load import load_series
from forecaster.errors import DataError, ExitCode

from conftest import make_frame


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["train", *argv, "--lookback", "12", "--horizon", "4", "--quiet"])
    err = capsys.readouterr().err.strip()
    return code, err


def expect_data_error(capsys: pytest.CaptureFixture[str], path: Path, *fragments: str, extra: tuple[str, ...] = ()) -> None:
    code, err = run(capsys, "--data", str(path), *extra, "--models-dir", str(path.parent / "models"))
    assert code == ExitCode.DATA, err
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    assert err.startswith("forecast: error: ")
    for fragment in fragments:
        assert fragment in err, err
    assert not (path.parent / "models").exists()  # nothing saved


def test_missing_file(capsys, tmp_path):
    expect_data_error(capsys, tmp_path / "nope.csv", "nope.csv: data file not found")


def test_empty_file(capsys, write_csv):
    expect_data_error(capsys, write_csv(""), "series.csv: file is empty")


def test_header_only(capsys, write_csv):
    expect_data_error(capsys, write_csv("date,y\n"), "has no data rows")


def test_unsupported_extension(capsys, write_csv):
    expect_data_error(capsys, write_csv("date,y\n", name="s.xlsx"), "unsupported file type '.xlsx'", "expected .csv", "or .parquet")


def test_unreadable_parquet(capsys, write_csv):
    expect_data_error(capsys, write_csv("this is not parquet", name="s.parquet"), "s.parquet: cannot read as parquet")


def test_binary_csv(capsys, tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\x00\xc3\x28")
    expect_data_error(capsys, path, "bin.csv: not a text CSV file")


def test_unknown_target(capsys, series_csv):
    expect_data_error(
        capsys, series_csv, "column 'nope' (--target) not found; available columns: date, y, x", extra=("--target", "nope")
    )


def test_unknown_time_col(capsys, series_csv):
    expect_data_error(capsys, series_csv, "column 'when' (--time-col) not found", extra=("--time-col", "when", "--target", "y"))


def test_unknown_covariate(capsys, series_csv):
    expect_data_error(capsys, series_csv, "column 'z' (--covariates) not found", extra=("--covariates", "z", "--target", "y"))


def test_target_required_when_ambiguous(capsys, series_csv):
    expect_data_error(capsys, series_csv, "name the column to forecast with --target", "candidates: y, x")


def test_no_datetime_column(capsys, write_csv):
    frame = make_frame().drop(columns="date")
    expect_data_error(capsys, write_csv(frame), "no datetime-like column found", "--time-col", extra=("--target", "y"))


def test_several_datetime_columns(capsys, write_csv):
    frame = make_frame()
    frame["updated"] = frame["date"]
    expect_data_error(capsys, write_csv(frame), "several datetime-like columns (date, updated)", extra=("--target", "y"))


def test_bad_timestamp(capsys, write_csv):
    frame = make_frame().astype({"date": str})
    frame.loc[3, "date"] = "not-a-date"
    expect_data_error(
        capsys, write_csv(frame), "column 'date': line 5 value 'not-a-date' is not a timestamp", extra=("--target", "y")
    )


def test_unsorted(capsys, write_csv):
    frame = make_frame()
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
    expect_data_error(capsys, write_csv(frame), "is not in time order: line 13", "sort the file by 'date'", extra=("--target", "y"))


def test_duplicate_timestamp(capsys, write_csv):
    frame = make_frame()
    frame.loc[20, "date"] = frame.loc[19, "date"]
    expect_data_error(
        capsys, write_csv(frame), "duplicate timestamp 2024-01-01 19:00:00 at line 21 and line 22", extra=("--target", "y")
    )


def test_non_numeric_target(capsys, write_csv):
    frame = make_frame().astype({"y": object})
    frame.loc[7, "y"] = "abc"
    expect_data_error(capsys, write_csv(frame), "column 'y' (--target): line 9 value 'abc' is not a number", extra=("--target", "y"))


def test_infinite_value(capsys, write_csv):
    frame = make_frame()
    frame.loc[30, "x"] = np.inf
    expect_data_error(
        capsys, write_csv(frame), "column 'x' (--covariates): line 32 value is infinite",
        extra=("--target", "y", "--covariates", "x"),
    )


def test_missing_value(capsys, write_csv):
    frame = make_frame()
    frame.loc[50, "y"] = np.nan
    expect_data_error(
        capsys, write_csv(frame), "column 'y': missing value at line 52", "--missing interpolate|ffill", extra=("--target", "y")
    )


def test_hole_in_index(capsys, write_csv):
    frame = make_frame().drop(index=[100, 101])
    expect_data_error(
        capsys, write_csv(frame), "2 timestamp(s) missing from the 'h' grid, first 2024-01-05 04:00:00",
        "--missing interpolate|ffill", extra=("--target", "y"),
    )


def test_irregular_index(capsys, write_csv):
    frame = make_frame(n=60)
    rng = np.random.default_rng(1)
    frame["date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum(rng.integers(1, 1000, 60)), unit="s")
    expect_data_error(capsys, write_csv(frame), "cannot infer a regular frequency", extra=("--target", "y"))


def test_too_few_rows(capsys, write_csv):
    code, err = run(capsys, "--data", str(write_csv(make_frame(n=20))), "--target", "y", "--models-dir", "unused")
    assert code == ExitCode.DATA
    assert len(err.splitlines()) == 1
    assert "series.csv: 20 rows are too few for lookback 12, horizon 4" in err
    assert "the training part has 14 rows and needs >= 16 (lookback + horizon)" in err


def test_interpolate_fills_missing_values_and_holes(write_csv):
    frame = make_frame()
    frame.loc[50, "y"] = np.nan
    frame = frame.drop(index=[100])
    path = write_csv(frame)
    s = load_series(path, target="y", missing="interpolate")
    assert s.n_filled == 2 and len(s.frame) == 240 and s.freq == "h"
    original = make_frame()["y"]
    assert s.frame["y"].iloc[50] == pytest.approx((original[49] + original[51]) / 2)
    assert s.frame["y"].iloc[100] == pytest.approx((original[99] + original[101]) / 2)
    ff = load_series(path, target="y", missing="ffill")
    assert ff.frame["y"].iloc[100] == pytest.approx(original[99])
    assert (s.filled_note, ff.filled_note) == ("2 values interpolated", "2 values forward-filled")
    assert load_series(write_csv(make_frame(), name="clean.csv"), target="y").filled_note is None


def test_leading_missing_value_cannot_be_filled(write_csv):
    frame = make_frame()
    frame.loc[0, "y"] = np.nan
    with pytest.raises(DataError, match="at the start or end of the series"):
        load_series(write_csv(frame), target="y", missing="interpolate")


def test_parquet_and_detection(write_csv):
    s = load_series(write_csv(make_frame(), name="s.parquet"), target="y", covariates=["x"])
    assert s.time_col == "date" and s.columns == ["y", "x"] and s.frame.shape == (240, 2)


def test_monthly_frequency_with_a_hole_is_inferred(write_csv):
    frame = make_frame(n=48, freq="MS").drop(index=[10])
    with pytest.raises(DataError, match="1 timestamp\\(s\\) missing from the 'MS' grid, first 2024-11-01"):
        load_series(write_csv(frame), target="y")


def test_shipped_data_loads_without_flags():
    from conftest import ROOT

    s = load_series(ROOT / "data/seattle_temps_2010.csv")
    assert (s.target, s.time_col, s.freq, len(s.frame)) == ("temp", "date", "h", 8760)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_detected(write_csv, sep):
    frame = make_frame(n=30)
    path = write_csv(frame.to_csv(index=False, sep=sep))
    s = load_series(path, target="y")
    assert s.columns == ["y"] and len(s.frame) == 30 and s.freq == "h"


def test_changing_utc_offsets_become_one_utc_grid(write_csv):
    text = "date,y\n2024-03-10T00:00:00-05:00,1\n2024-03-10T01:00:00-05:00,2\n2024-03-10T03:00:00-04:00,3\n"
    s = load_series(write_csv(text + "2024-03-10T04:00:00-04:00,4\n"))
    assert s.freq == "h" and str(s.frame.index.tz) == "UTC" and s.frame.index[0] == pd.Timestamp("2024-03-10 05:00Z")


def test_stacked_series_get_a_series_id_hint(capsys, write_csv):
    a, b = make_frame(n=50), make_frame(n=50, seed=1)
    a["store"], b["store"] = "north", "south"
    expect_data_error(
        capsys, write_csv(pd.concat([a, b])), "column 'store' looks like a series id (2 series: north, south)",
        "forecast them together with --id-col store", extra=("--target", "y"),
    )


def test_single_row(capsys, write_csv):
    expect_data_error(capsys, write_csv("date,y\n2024-01-01,1\n"), "1 row(s) are too few to infer a frequency")


def test_year_numbers_are_a_time_column(write_csv):
    frame = pd.DataFrame({"Year": np.arange(1900, 1960), "value": np.arange(60.0)})
    s = load_series(write_csv(frame))
    assert s.time_col == "Year" and s.freq == "YS-JAN" and s.frame.index[0] == pd.Timestamp("1900-01-01")


def test_compressed_and_tab_separated_files(tmp_path):
    frame = make_frame(n=30)
    frame.to_csv(tmp_path / "s.csv.gz", index=False)
    frame.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    for name in ("s.csv.gz", "s.tsv"):
        assert load_series(tmp_path / name, target="y").frame.shape == (30, 1)
    (tmp_path / "s.parquet.gz").write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported file type '.parquet.gz'"):
        load_series(tmp_path / "s.parquet.gz", target="y")


def test_file_without_header_is_refused(capsys, write_csv):
    path = write_csv(make_frame()[["date", "y"]].to_csv(index=False, header=False))
    expect_data_error(capsys, path, "line 1 looks like data, not a header", "add a header row")


def test_duplicate_column_names(capsys, write_csv):
    frame = make_frame()
    text = "date,y,y\n" + "".join(f"{d},{v},{v}\n" for d, v in zip(frame["date"], frame["y"]))
    expect_data_error(capsys, write_csv(text), "line 1: duplicate column name 'y'", extra=("--target", "y"))


def test_single_value_column_reports_its_bad_cell(capsys, write_csv):
    frame = make_frame()[["date", "y"]].astype({"y": object})
    frame.loc[5, "y"] = "1,234.5"
    expect_data_error(capsys, write_csv(frame), "column 'y' (--target): line 7 value '1,234.5' is not a number",
                      "thousands separators")


def test_semicolon_file_with_decimal_commas_and_windows_1252(tmp_path):
    frame = make_frame(n=30)[["date", "y"]]
    text = "date;température\n" + "".join(f"{d};{v:.2f}\n".replace(".", ",") for d, v in zip(frame["date"], frame["y"]))
    (tmp_path / "eu.csv").write_bytes(text.encode("cp1252"))
    s = load_series(tmp_path / "eu.csv")
    assert s.target == "température" and s.frame.iloc[0, 0] == pytest.approx(round(frame["y"][0], 2))


def test_boolean_columns_are_not_target_candidates(write_csv):
    frame = make_frame()[["date", "y"]]
    frame["holiday"] = False
    assert load_series(write_csv(frame)).target == "y"
