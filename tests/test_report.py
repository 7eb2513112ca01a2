"""The HTML report of an experiment, read back as a page and rendered by a real browser."""

import re
import shutil
import subprocess

import pytest

from lif.app import train
from lif.report import main as report_main

BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def two_trial_report(tmp_path_factory):
    from support import compose_config

    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder}/lif.db"
    for seed in (1, 2):
        cfg = compose_config(
            [f"seed={seed}", "data.num_samples=40", "data.num_afferents=20", "trainer.max_epochs=3", "logger=none",
             f"tracking.url={url}", "experiment_name=pair", "experiment_description=two seeds", "trainer.enable_progress_bar=false"],
            folder / f"job{seed}",
        )
        train(cfg)
    page = folder / "report.html"
    assert report_main(["pair", "--url", url, "--output", str(page)]) == 0
    return page


def test_the_report_has_one_row_per_trial_and_embeds_its_images(two_trial_report):
    text = two_trial_report.read_text()
    table = re.search(r'<table id="trials">(.*?)</table>', text, re.S).group(1)
    assert len(re.findall(r"<tr[ >]", table)) == 3  # header and two trials
    assert "two seeds" in text and text.count('<td class="completed">completed</td>') == 2
    images = re.findall(r'src="data:image/png;base64,', text)
    assert len(images) >= 1 + 5  # the overlaid curves and the best trial's five plots
    assert "http://" not in text and "https://" not in text  # nothing to fetch: it works offline


def test_the_report_creates_the_folders_of_its_output(two_trial_report, tmp_path, capsys):
    url = f"sqlite:///{two_trial_report.parent}/lif.db"
    page = tmp_path / "new" / "folder" / "pair.html"
    assert report_main(["pair", "--url", url, "--output", str(page)]) == 0
    assert page.read_text() == two_trial_report.read_text()
    assert capsys.readouterr().out.startswith(f"wrote {page} (")


@pytest.mark.slow
def test_the_report_renders_in_headless_chromium(two_trial_report, tmp_path):
    from support import require

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    require(browser is not None, "Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)", "LIF_REQUIRE_BROWSER")
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
         f"--screenshot={screenshot}", two_trial_report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels[..., :3].std() > 0.05  # text, table and figures, not an empty page
