"""The README's screenshots of the dashboard, made from the demo's store (see
scripts/screenshots)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from mltracker.connect import open_store
from mltracker.server.serve import ServerThread

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MLTRACKER_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1360, "height": 560}


def demo_store(folder: Path) -> str:
    """A store with what `mltracker demo` logs (its three models of "spirals")."""
    uri = str(folder / "mltracker.db")
    subprocess.run(
        [sys.executable, "-m", "mltracker", "--uri", uri, "demo"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return uri


def settle(page: Page) -> None:
    """Wait until every chart on screen is drawn."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.chart')].every(
            chart => chart.mlChart.summary().drawn && !chart.classList.contains('loading'))"""
    )
    page.wait_for_timeout(300)


def hover(page: Page, selector: str, fraction: float) -> None:
    """Put the cursor over a chart, as a person reading its values would."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
    page.wait_for_timeout(200)


def shoot(url: str, out: Path) -> list[Path]:
    made: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def save(name: str) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            made.append(path)

        page.goto(url + "/")
        page.wait_for_selector("tr[data-key='spirals']")
        save("experiments")

        page.click("a:text-is('spirals')")
        page.wait_for_selector("table.data tbody tr[data-key]")
        hashes = page.eval_on_selector_all(
            "table.data tbody tr[data-key]", "rows => rows.map(row => row.dataset.key)"
        )
        for key in hashes:
            page.check(f"tr[data-key='{key}'] input[type=checkbox]")
        save("experiment")

        page.click("button.primary")
        page.wait_for_selector("table.diff")
        settle(page)
        save("compare")

        page.goto(f"{url}/experiments/spirals/models/{hashes[1]}")
        settle(page)
        hover(page, "[data-metric='loss'] .u-over", 0.35)
        save("model")

        page.goto(f"{url}/experiments/spirals/models/{hashes[1]}?tab=iterations&at=12")
        page.wait_for_selector(".iteration-detail h3")
        settle(page)
        save("iterations")
        browser.close()
        if errors:
            raise SystemExit(f"the pages logged errors: {errors}")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(demo_store(Path(folder)))
        server = ServerThread(store, read_only=True)
        try:
            for path in shoot(server.url, options.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            server.stop()
            store.close()


if __name__ == "__main__":
    main()
