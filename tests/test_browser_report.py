"""The study report in a real headless chromium: loads cleanly and offline, shows its tables, charts and math,
its tables sort, and a running study is marked as such. Screenshots go to a temporary folder."""
import pytest
from browser.cdp import Browser, find_chromium
from browser.studies import make_study

from actlab.report import write_study_report

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (CI installs it via "
                                "'apt-get install chromium'; run .ci/run or install it to run the browser tests)")

TABLES = ("ranking-table", "cost-table", "grad-grad_norm_w", "grad-frac_dead", "properties-table", "runs-table",
          "config-table", "environment-table")


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = make_study(tmp_path_factory.mktemp("s") / "study", activations=("relu", "gelu", "sigmoid", "elu"),
                        seeds=3, diagnostics=True, unfinished=1, diverge=(2, 2))
    return write_study_report(folder)


def _column(browser, table: str, col: int) -> list[str]:
    return browser.eval(f"Array.from(document.querySelectorAll('#{table} tbody tr')).map("
                        f"r => r.cells[{col}].textContent)")


def test_report_loads_offline_with_every_section(browser, report, tmp_path_factory):
    browser.open(report.as_uri())
    assert browser.console_errors() == []
    assert browser.remote_requests() == []
    counts = browser.eval("({%s})" % ", ".join(
        f"'{t}': document.querySelectorAll('#{t} tbody tr').length" for t in TABLES))
    assert counts["ranking-table"] == 4 and counts["runs-table"] == 12 and counts["properties-table"] == 4
    assert all(n > 0 for n in counts.values()), counts
    charts = browser.eval("Array.from(document.querySelectorAll('#curves svg.chart')).map("
                          "s => [s.querySelectorAll('polyline').length, s.getBoundingClientRect().width])")
    assert len(charts) == 4 and all(lines == 4 and width > 200 for lines, width in charts)
    assert browser.eval("document.querySelectorAll('#ci-chart circle').length") == 4
    assert browser.eval("document.querySelectorAll('#properties-table svg.math path').length") >= 4
    warning = browser.eval("document.querySelector('aside.warning').innerText")
    assert "diverged" in warning and "still running" in warning
    running = browser.eval("Array.from(document.querySelectorAll('#runs-table tr.in-progress')).map("
                           "r => [r.cells[3].textContent, getComputedStyle(r.cells[0]).fontStyle])")
    assert running == [["running", "italic"]]
    browser.screenshot(tmp_path_factory.mktemp("screenshots") / "report.png")


def test_ranking_and_runs_tables_sort_on_click(browser, report):
    browser.open(report.as_uri())
    ranks = _column(browser, "ranking-table", 0)
    assert ranks == ["1", "2", "3", "4"]
    browser.eval("document.querySelectorAll('#ranking-table th')[3].click()")  # test acc, ascending
    accs = [float(v) for v in _column(browser, "ranking-table", 3)]
    assert accs == sorted(accs)
    assert _column(browser, "ranking-table", 0) == ["4", "3", "2", "1"]
    browser.eval("document.querySelectorAll('#ranking-table th')[3].click()")
    assert _column(browser, "ranking-table", 0) == ["1", "2", "3", "4"]
    # Runs without a final accuracy (unfinished) stay at the bottom in both directions.
    for _ in range(2):
        browser.eval("document.querySelectorAll('#runs-table th')[6].click()")
        assert _column(browser, "runs-table", 6)[-1] == "—"
    assert browser.console_errors() == []
