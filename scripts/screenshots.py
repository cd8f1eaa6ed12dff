"""Screenshots of the barometer, an establishment page and the questionnaire, at 360 and
1280 px, so anyone can look at the product without running it by hand.

    make screenshots            # writes screenshots/*.png

The embedded default with demo data, in a temporary instance folder: the app is served on
a free loopback port and Debian's Chromium (through Playwright) takes full-page pictures.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from barometre import create_app  # noqa: E402
from barometre.extensions import db  # noqa: E402
from barometre.seed import seed_demo, seed_referentiel  # noqa: E402
from barometre.settings import Settings  # noqa: E402
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

WIDTHS = (360, 1280)
PAGES = {
    "barometre": "/",
    "etablissement": "/etablissements/haren",
    "questionnaire": "/signalement",
}
DEMO_WORKER = ("travailleur@fidex.demo", "demo-barometre")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as instance:
        settings = Settings(
            instance_path=instance, secret_key="screenshots-" + "x" * 40, public_barometer=True
        )
        app = create_app(settings)
        for name in ("werkzeug", "barometre.request"):
            logging.getLogger(name).setLevel(logging.WARNING)
        with app.app_context():
            db.create_all()
            seed_referentiel(db.session)
            seed_demo(db.session, settings)
            db.session.commit()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            shoot(base, out)
        finally:
            server.shutdown()


def shoot(base: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-BE")
            page = context.new_page()
            page.goto(base + "/connexion")
            page.locator("input[name=email]").fill(DEMO_WORKER[0])
            page.locator("input[name=password]").fill(DEMO_WORKER[1])
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_load_state("load")
            for name, path in PAGES.items():
                page.goto(base + path)
                target = out / f"{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots")
