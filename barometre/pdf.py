"""A page as PDF (WeasyPrint): the yearly report, printed as the browser prints it.

The page's own print CSS lays it out (A4, one establishment a page). Its stylesheets
and images are read from `static/` on disk; any other address is refused, so a PDF
never makes the server fetch anything over the network.
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request


def pdf_of(html: str) -> bytes:
    """`html`, rendered for the current request, as PDF bytes."""
    from weasyprint import HTML  # a heavy import: only where a PDF is asked for

    fetcher = _static_fetcher()(
        Path(current_app.static_folder or "").resolve(),
        (current_app.static_url_path or "/static").rstrip("/") + "/",
    )
    document = HTML(string=html, base_url=request.url_root, url_fetcher=fetcher)
    return bytes(document.write_pdf())


@functools.cache  # one class, made at the first PDF (WeasyPrint is imported only then)
def _static_fetcher() -> type:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnly(URLFetcher):
        """Files under static/ from the disk; nothing else, from anywhere."""

        def __init__(self, folder: Path, prefix: str) -> None:
            super().__init__(allowed_protocols=("http", "https"))
            self.folder, self.prefix = folder, prefix

        def fetch(self, url: str, headers: Any = None) -> Any:
            path = urlsplit(url).path
            if path.startswith(self.prefix):
                file = (self.folder / path[len(self.prefix) :]).resolve()
                if file.is_relative_to(self.folder) and file.is_file():
                    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(
                        url, body=file.read_bytes(), headers={"Content-Type": kind}
                    )
            raise ValueError(f"not fetched for a PDF: {url}")

    return StaticOnly
