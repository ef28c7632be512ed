"""Print the content digest of an output folder as JSON (see :mod:`n2kzones.io.digest`).

Usage: .venv/bin/python tools/output_digest.py OUT_DIR [> tests/data/sample_outputs_digest.json]

The recorded digest of the sample (``tests/data/sample_outputs_digest.json``) is what
``tests/test_outputs_agree.py::test_outputs_have_the_recorded_content`` compares a fresh
sample run with. Regenerate it only for a change that is meant to change the outputs, and
say so in the commit message: ``make demo`` then this script on ``data/processed``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from n2kzones.io.digest import output_digest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(output_digest(Path(argv[0])), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
