"""The README's integration guide shows the very files scripts/test_guide applies (docs/integration/).

scripts/test_guide follows the guide in a fresh startproject from those files; this keeps the README's
code blocks equal to them, so what a reader copies is what CI ran.
"""

import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "integration"
INCLUDE = re.compile(r"^( *)<!-- include: (?P<path>\S+) -->\n\1```\w*\n(?P<body>.*?)\n\1```$", re.M | re.S)


def included_blocks() -> dict[str, str]:
    readme = (REPO / "README.md").read_text()
    return {match["path"]: textwrap.dedent(match["body"]) for match in INCLUDE.finditer(readme)}


@pytest.mark.parametrize("snippet", sorted(path.name for path in GUIDE.iterdir()))
def test_the_readme_shows_each_guide_file_verbatim(snippet):
    blocks = included_blocks()
    key = f"docs/integration/{snippet}"
    assert key in blocks, f"README.md does not include {key}"
    assert blocks[key] == (GUIDE / snippet).read_text().rstrip("\n")


def test_every_include_in_the_readme_names_an_existing_file():
    blocks = included_blocks()
    assert len(blocks) >= 5
    assert all((REPO / path).is_file() for path in blocks)
