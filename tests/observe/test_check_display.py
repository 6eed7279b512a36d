"""Checks show where a reader looks for a feature's contract: DOT tooltips, catalog records, Markdown and HTML."""

from __future__ import annotations

import fdag
from fdag._observe.catalog import catalog_html, catalog_markdown, catalog_records
from fdag.demo import payment
from tests.resources import checked

DAG = fdag.Dag.from_modules(checked)


def test_dot_tooltips_list_the_checks() -> None:
    dot = DAG.to_dot(["bucket"])
    assert 'tooltip="checks: one_of [\'low\', \'mid\', \'high\'] (warn); max_null_fraction 0.25 (warn, offline only)' \
        in dot
    assert "checks: range [0.0, 1.0] (warn); allow_null=False (warn)" in dot
    assert "checks:" not in fdag.Dag.from_modules(payment).to_dot()


def test_the_catalog_lists_each_features_checks() -> None:
    records = {r["name"]: r for r in catalog_records(DAG)}
    assert records["ratio"]["checks"] == ["range [0.0, 1.0] (warn)", "allow_null=False (warn)"]
    assert records["payments_1h"]["checks"] == ["range [0, 2] (warn)"]
    assert records["card_limit"]["checks"] == ["allow_null=False (warn)"]
    assert "| range [-5, 5] (warn) |" in catalog_markdown(list(records.values()))
    page = catalog_html(DAG)
    assert ("<dt>checks</dt><dd><code>range [0.0, 1.0] (warn)</code><br><code>allow_null=False (warn)</code></dd>"
            in page)
    assert "max_null_fraction 0.25 (warn, offline only)" in page.lower()
