"""The README's screenshots, made on purpose: a test run writes nothing into the tree, this does.

    python bench/screenshots.py                  # rewrites docs/screenshots/ (~5 minutes on 2 cores)
    python bench/screenshots.py --out /tmp/shots # somewhere else, to look before replacing them
    python bench/screenshots.py -- -x            # anything after -- goes to pytest

It runs the tests that take them, in Debian's Chromium against the app on the embedded checkpoints,
with ``--screenshots DIR``: the browser test (a desk's 1440x900, a projector's 1280x720, a phone's
390x844), the queue of a busy ZeroGPU server at the three sizes, and the page in Chinese and
Russian. The pictures are only kept when every one of those tests passed: a failed run leaves the
old ones in place.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from common import REPO

# The tests that take a screenshot (each saves it with browser.shoot, or into browser.SHOTS).
TESTS = [
    "tests/test_browser.py",
    "tests/test_zerogpu.py::test_a_waiting_visitor_sees_their_place_in_the_queue",
    "tests/test_i18n.py::test_the_page_follows_the_browsers_language",
    "tests/test_browser_lesson.py::test_the_lesson_walks_from_start_to_end",  # into lesson/, every step
]


class Outcomes:
    """A pytest plugin that counts the tests that passed and the reports that failed."""

    def __init__(self) -> None:
        self.passed = self.failed = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.failed += report.failed
        self.passed += report.passed and report.when == "call"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="where the pictures go")
    p.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = p.parse_args(argv)
    out = args.out.resolve()
    os.chdir(REPO)
    outcomes = Outcomes()
    with tempfile.TemporaryDirectory(prefix="fcn-demo-shots-") as shots:
        # The heavy queue test included; the lesson walked at each size and in each language once.
        code = pytest.main([*TESTS, "--screenshots", shots, "-p", "no:cacheprovider", "-m", "heavy or not heavy",
                            "--walks", "each", *args.pytest_args], plugins=[outcomes])  # fmt: skip
        taken = sorted(Path(shots).rglob("*.png"))
        # Kept when every test passed (pytest's own exit status also counts a file the run changed in
        # the tree, which may be someone's edit made meanwhile: it is reported, and returned).
        if outcomes.failed or not outcomes.passed or not taken:
            print(f"no screenshots written: {outcomes.failed} failed, {outcomes.passed} passed", file=sys.stderr)
            return int(code) or 1
        out.mkdir(parents=True, exist_ok=True)
        for path in taken:
            (out / path.relative_to(shots)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / path.relative_to(shots))
    print(f"{len(taken)} screenshots in {out}: {', '.join(str(p.relative_to(shots)) for p in taken)}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
