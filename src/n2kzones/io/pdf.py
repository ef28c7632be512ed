"""HTML pages to PDF with headless Chromium's print (``chromium --headless --print-to-pdf``).

Chromium is the renderer the browser tests already use: it lays out the report as a reader's
browser does (the page's ``@media print`` rules and ``page-break`` hints apply). The PDF is
written to a temporary name beside the target and moved into place, so a failed print leaves
no half-written PDF.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from n2kzones.errors import OutputError
from n2kzones.io.writers import atomic_path

log = logging.getLogger(__name__)

#: Environment variable naming the Chromium (or Chrome) executable to use.
CHROMIUM_ENV = "N2KZONES_CHROMIUM"
#: Executables looked for on the PATH, in this order.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: How to install Chromium, for the error message.
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `apt-get install -y chromium`; macOS: `brew install --cask "
    "chromium`), or name the executable in the environment variable N2KZONES_CHROMIUM"
)


class ChromiumMissingError(OutputError):
    """No Chromium executable was found for a PDF export."""


def find_chromium() -> Path | None:
    """The Chromium executable: ``$N2KZONES_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on the PATH; None when there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return Path(named) if Path(named).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_chromium() -> Path:
    """The Chromium executable, or :class:`ChromiumMissingError` saying how to install it."""
    exe = find_chromium()
    if exe is None:
        raise ChromiumMissingError(
            f"the PDF export needs headless Chromium, which was not found: {INSTALL_HINT}"
        )
    return exe


def html_to_pdf(
    html: Path, pdf: Path, *, chromium: Path | None = None, timeout_s: float = 180.0
) -> Path:
    """Print the HTML page ``html`` (a local file; its relative links and images resolve
    against its folder) to ``pdf`` with headless Chromium, A4, without header and footer.

    Parameters
    ----------
    html
        The page to print.
    pdf
        Destination; written atomically.
    chromium
        The executable (default: :func:`require_chromium`).
    timeout_s
        Seconds before the print is given up (s).

    Returns
    -------
    Path
        ``pdf``.

    Raises
    ------
    ChromiumMissingError
        No Chromium is installed.
    OutputError
        Chromium failed or wrote no PDF (its last output lines are in the message).
    """
    exe = chromium or require_chromium()
    html = Path(html).resolve()
    with atomic_path(pdf) as tmp:
        cmd = [
            str(exe),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
            f"--print-to-pdf={tmp}",
            html.as_uri(),
        ]
        try:
            res = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise OutputError(
                f"Chromium did not print {html.name} to PDF within {timeout_s:g} s"
            ) from None
        if res.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            tail = " | ".join((res.stderr or "").strip().splitlines()[-3:])
            raise OutputError(
                f"Chromium could not print {html.name} to PDF (exit {res.returncode}): {tail}"
            )
    log.info("printed %s to %s", html.name, pdf)
    return Path(pdf)
