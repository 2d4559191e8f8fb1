"""``python -m shuangtan``: the same command line as ``shuangtan``."""

from shuangtan.cli import main

main()
