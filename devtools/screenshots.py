"""``python -m devtools.screenshots BASE_URL USER PASSWORD``: the README's tour, photographed.

Run it against ``make run`` once the simulator has placed a few orders and the README's
webhook example has run: it logs in as a staff user on the system Chromium (Playwright,
never a downloaded browser) and writes ``docs/img/{board,order,outbox,tracking,
webhook-inbox}.png`` at 1280x800.
"""

import re
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
VIEWPORT = {"width": 1280, "height": 800}


def main(base_url: str, username: str, password: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium not found (apt-get install -y chromium)")
    OUT.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base_url}/admin/login/?next=/staff/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(f"{base_url}/staff/")
        page.wait_for_selector("table tbody tr a")
        page.wait_for_timeout(1500)  # the live indicator settles
        page.screenshot(path=OUT / "board.png")

        page.click("table tbody tr a")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=OUT / "order.png")

        page.goto(f"{base_url}/staff/outbox/")
        page.click("table tbody tr a >> nth=0")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=OUT / "outbox.png")
        tracking = re.search(r"https?://[^\s\"<]+/track/[\w-]+", page.content())

        if tracking:
            customer = browser.new_page(viewport=VIEWPORT)
            customer.goto(tracking.group(0))
            customer.wait_for_load_state("networkidle")
            customer.screenshot(path=OUT / "tracking.png")

        page.goto(f"{base_url}/staff/webhook-inbox/")
        page.click("table tbody tr a >> nth=0")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=OUT / "webhook-inbox.png")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
