"""The feature catalog: JSON, Markdown and one self-contained HTML page, checked in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb
import polars as pl
import pytest

import fdag
from fdag._observe.catalog import catalog_html, catalog_markdown, catalog_records
from fdag._observe.health import data_health
from fdag.cli import main
from fdag.demo.samples import transactions
from feature_modules import fraud

DAG = fdag.Dag.from_modules(fraud)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backfill of every fraud feature over a small generated history (five day partitions)."""
    path = tmp_path_factory.mktemp("backfill") / "features"
    events = transactions(users=40, count=2000, days=5)
    spine = (events.unique("txn_id").sample(600, seed=2)
             .select("user_id", "amount", "merchant", pl.col("ts").alias("as_of")))
    fdag.FrameDriver(DAG).backfill(spine, {"transactions": events}, path, progress=False)
    return path


@pytest.fixture(scope="module")
def page_with_data(dataset: Path) -> str:
    """The catalog page with the dataset's health (matplotlib draws a plot per feature: built once)."""
    return catalog_html(DAG, dataset)


def test_the_page_is_self_contained_and_describes_every_feature() -> None:
    html = catalog_html(DAG)
    assert html.startswith("<!DOCTYPE html>") and '<input id="search"' in html and "<script>" in html
    for pattern in ("http://", "https://", "<link", " src=", "url("):  # nothing to fetch: it works offline
        assert pattern not in html
    assert html.count("<svg") == 1  # the DAG, drawn by Graphviz and inlined
    for node in DAG.nodes.values():
        card = html[html.index(f'id="feature-{node.name}"'):]
        card = card[:card.index("</section>")]
        assert DAG.version(node.name) in card and node.kind in card
        assert escape(node.doc or "No description.") in card
    spend = html[html.index('id="feature-spend_sum_1h"'):]
    assert "sum over 1h of <code>transactions</code>" in spend and "owner=risk" in spend
    burst = html[html.index('id="feature-burst_ratio"'):]
    burst = burst[:burst.index("</section>")]
    assert '<a href="#feature-spend_count_1h">' in burst and DAG.version("spend_count_5m") in burst


def test_data_health_counts_what_the_dataset_holds(dataset: Path, page_with_data: str) -> None:
    health = data_health(DAG, dataset)
    assert set(health) == set(DAG.nodes)
    files = f"{dataset}/**/*.parquet"
    for name, found in health.items():  # the oracle: DuckDB counting the same files
        [(rows, values)] = duckdb.sql(f"select count(*), count({name}) from read_parquet('{files}')").fetchall()
        assert (found.rows, found.nulls) == (rows, rows - values)
        assert found.versions == (DAG.version(name),)
        assert (found.plot is None) == (values == 0)
    assert 0 < health["spend_mean_10d"].nulls < health["spend_mean_10d"].rows  # users without history
    page = page_with_data
    mean = page[page.index('id="feature-spend_mean_10d"'):]
    mean = mean[:mean.index("</section>")]
    found = health["spend_mean_10d"]
    assert f"{found.nulls / found.rows:.1%} ({found.nulls:,} of {found.rows:,})" in mean
    assert mean.count("<svg") == 1 and "written by" not in mean
    assert page.count("<svg") == 1 + sum(h.plot is not None for h in health.values())
    assert "http://" not in page and "https://" not in page


def test_a_dataset_written_by_other_code_is_flagged(tmp_path: Path, make_module) -> None:  # type: ignore[no-untyped-def]
    source = "def doubled(x: int) -> int:\n    return x * 2\n"
    old = fdag.Dag.from_modules(make_module("catalogued", source))
    spine = pl.DataFrame({"x": [1, 2, None], "as_of": [datetime(2024, 3, 1, tzinfo=UTC)] * 3})
    fdag.FrameDriver(old).backfill(spine, None, tmp_path / "data", progress=False)
    new = fdag.Dag.from_modules(make_module("catalogued", source.replace("x * 2", "x + x")))
    facts = dict(data_health(new, tmp_path / "data")["doubled"].facts(new.version("doubled")))
    text = facts["data version"]
    assert f"written by {old.version('doubled')}, not the current {new.version('doubled')}" in text


def test_markdown_escapes_pipes_in_every_cell(make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("piped", '''
        import fdag

        @fdag.tag(owner="risk|fraud")
        def maybe(x: int) -> float | None:
            """Either | or."""
            return None
    ''')
    table = catalog_markdown(catalog_records(fdag.Dag.from_modules(module)))
    for line in table.splitlines():
        assert len(re.split(r"(?<!\\)\|", line)) == 8  # 6 cells between 7 unescaped pipes
    assert "| float \\| None |" in table and "owner=risk\\|fraud" in table and "Either \\| or." in table


def test_the_command_line_writes_the_page(tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "catalog.html"
    assert main(["catalog", "feature_modules.fraud", "--format", "html", "--out", str(out)]) == 0
    assert f"catalog of {len(DAG.nodes)} features -> {out}" in capsys.readouterr().out
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["catalog", "feature_modules.fraud", "--data", str(dataset)]) == 1
    assert capsys.readouterr().err == (f"fdag: --data={str(dataset)!r} needs --format html. Hint: add --format html "
                                       "(data health is drawn on the HTML page).\n")


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``url``, offline and without a profile of its own."""
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", *args, url],
        capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make system installs it)")
def test_chromium_renders_the_page_and_the_search_filters_it(tmp_path: Path, page_with_data: str) -> None:
    page = tmp_path / "catalog.html"
    page.write_text(page_with_data)
    dom = chromium(tmp_path, page.as_uri(), "--dump-dom").stdout
    total = len(DAG.nodes)
    assert f"{total} of {total} features" in dom  # written by the page's script: it ran
    for name in DAG.nodes:
        assert f'id="feature-{name}"' in dom
    assert "<svg" in dom
    assert not re.findall(r'<section class="feature"[^>]* hidden', dom)
    # The search reads the query from the address too (#q=...): one feature matches 'merchants_1h'.
    filtered = chromium(tmp_path, page.as_uri() + "#q=merchants_1h", "--dump-dom").stdout
    assert f"1 of {total} features" in filtered
    cards = re.findall(r'<section class="feature" id="feature-(\w+)"[^>]*?( hidden(?:="")?)?>', filtered)
    assert {name for name, hidden in cards if not hidden} == {"merchants_1h"} and len(cards) == total

    from matplotlib.image import imread

    shot = tmp_path / "catalog.png"
    chromium(tmp_path, page.as_uri(), "--window-size=1280,2000", f"--screenshot={shot}")
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280) and pixels.std() > 0.05  # drawn, not a blank page
