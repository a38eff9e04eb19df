"""The catalog site in a real headless chromium: loads cleanly and offline, math and plots present, tables
sort, sliders move the curves. Screenshots go to a temporary folder for a human look."""
import pytest
from browser.cdp import Browser, find_chromium

from actlab.catalog import DEFINITIONS
from actlab.report import write_catalog_site
from actlab.report.curves import movable

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (CI installs it via "
                                "'apt-get install chromium'; run .ci/run or install it to run the browser tests)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    write_catalog_site(out, figures=False)  # figures cost about a second each; one is checked below
    return out


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def _clean(browser):
    assert browser.console_errors() == []
    assert browser.remote_requests() == []


def test_harness_sees_console_errors_and_network_requests(browser, tmp_path):
    """The checks below mean something only if a bad page would fail them."""
    bad = tmp_path / "bad.html"
    bad.write_text('<img src="http://example.invalid/x.png"><script>console.error("boom")</script>')
    browser.open(bad.as_uri())
    assert browser.remote_requests() == ["http://example.invalid/x.png"]
    assert any("boom" in e for e in browser.console_errors())


def test_index_loads_offline_with_thumbnails_and_sorts(browser, site, shots):
    browser.open((site / "index.html").as_uri())
    _clean(browser)
    assert browser.eval("document.querySelectorAll('#cards a.card svg polyline').length") >= 2 * len(DEFINITIONS)
    first_col = "Array.from(document.querySelectorAll('#properties tbody tr td:first-child')).map(td => td.textContent)"
    family = "Array.from(document.querySelectorAll('#properties tbody tr td:nth-child(2)')).map(td => td.textContent)"
    assert browser.eval(first_col) == list(DEFINITIONS)
    browser.eval("document.querySelectorAll('#properties th')[1].click()")
    fams = browser.eval(family)
    assert fams == sorted(fams)
    assert browser.eval("document.querySelectorAll('#properties th')[1].getAttribute('aria-sort')") == "ascending"
    browser.eval("document.querySelectorAll('#properties th')[1].click()")
    assert browser.eval(family) == sorted(fams, reverse=True)
    browser.eval("document.querySelectorAll('#properties th')[0].click()")
    # The page sorts text with the browser's collation, where '_' precedes digits and letters, as ' ' does in ASCII.
    assert browser.eval(first_col) == sorted(DEFINITIONS, key=lambda n: n.replace("_", " "))
    browser.screenshot(shots / "catalog-index.png")


def test_every_activation_page_loads_cleanly_with_math_and_live_plot(browser, site):
    for name in DEFINITIONS:
        browser.open((site / f"{name}.html").as_uri())
        _clean(browser)
        state = browser.eval("""({
            math: document.querySelectorAll('#formula svg.math path, #dformula svg.math path').length,
            mathHeight: document.querySelector('#formula svg.math').getBoundingClientRect().height,
            f: (document.querySelector('#live-f path.curve').getAttribute('d') || '').length,
            df: (document.querySelector('#live-df path.curve').getAttribute('d') || '').length,
            sliders: document.querySelectorAll('.liveplot input[type=range]').length})""")
        assert state["math"] >= 2 and state["mathHeight"] > 10, name
        assert state["f"] > 100 and state["df"] > 100, name
        assert state["sliders"] == len(movable(DEFINITIONS[name])), name


@pytest.mark.parametrize("name,param", [("elu", "alpha"), ("softplus", "beta"), ("leaky_relu", "negative_slope"),
                                        ("silu", "beta"), ("softmax", "temperature")])
def test_slider_changes_the_plot(browser, site, shots, name, param):
    browser.open((site / f"{name}.html").as_uri())
    read = """({f: document.querySelector('#live-f path.curve').getAttribute('d'),
                df: document.querySelector('#live-df path.curve').getAttribute('d'),
                shown: document.querySelector('output[data-param=%s]').textContent})""" % param
    before = browser.eval(read)
    browser.eval(f"""(() => {{ const s = document.querySelector('input[data-param={param}]');
                     s.value = s.max; s.dispatchEvent(new Event('input')); }})()""")
    after = browser.eval(read)
    assert after["f"] != before["f"] and after["df"] != before["df"]
    assert float(after["shown"]) > float(before["shown"])
    _clean(browser)
    if name == "elu":
        browser.screenshot(shots / "catalog-elu-alpha-max.png")
    browser.eval("document.querySelector('.liveplot button.reset').click()")
    assert browser.eval(read) == before


def test_two_sliders_and_a_refused_setting(browser, site):
    browser.open((site / "rrelu.html").as_uri())
    set_lower_max = """(() => { const s = document.querySelector('input[data-param=lower]');
                        s.value = s.max; s.dispatchEvent(new Event('input')); })()"""
    browser.eval(set_lower_max)  # lower at its maximum is above the default upper: RReLU refuses it
    note = browser.eval("(() => { const n = document.querySelector('.liveplot .refused'); "
                        "return n.hidden ? '' : n.textContent; })()")
    assert "refuses" in note
    assert browser.eval("document.querySelector('#live-f path.curve').getAttribute('d')") == ""
    browser.eval("""(() => { const s = document.querySelector('input[data-param=upper]');
                    s.value = s.max; s.dispatchEvent(new Event('input')); })()""")
    assert browser.eval("document.querySelector('.liveplot .refused').hidden") is True
    assert len(browser.eval("document.querySelector('#live-f path.curve').getAttribute('d')")) > 100
    _clean(browser)


def test_catalog_figure_is_embedded_and_displayed(browser, tmp_path, shots):
    write_catalog_site(tmp_path, names=["elu"])
    browser.open((tmp_path / "elu.html").as_uri())
    _clean(browser)
    assert browser.eval("document.querySelector('#figure').complete") is True
    assert browser.eval("document.querySelector('#figure').naturalWidth") > 300
    assert browser.eval("document.querySelector('#phase').complete") is True  # the phase-diagram panel
    assert browser.eval("document.querySelector('#phase').naturalWidth") > 300
    browser.screenshot(shots / "catalog-elu.png")
