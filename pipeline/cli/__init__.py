"""``trackhouse`` command line. Every flag also reads a ``TRACKHOUSE_*`` environment variable
(through ``Settings``); a flag given on the command line wins. One module per family of
commands; importing them registers their commands on ``main``."""

from __future__ import annotations

from pipeline.cli import data, notify, registry, run  # noqa: F401  (registers the commands)
from pipeline.cli.base import _locked_clickhouse, data_dir_option, main
from pipeline.plans.commands import plan_group

main.add_command(plan_group(_locked_clickhouse, data_dir_option))

__all__ = ["main"]
