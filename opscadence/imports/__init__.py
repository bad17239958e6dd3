"""``opscadence import``: a shop's CSV or Excel exports into the raw tables, with Chinese and
English headers, in one transaction (plain functions, no Prefect).

The modules: :mod:`reading` (CSV and .xlsx files as cells), :mod:`aliases` (headers → raw
columns: ``aliases.yaml`` and mapping files), :mod:`values` (amounts, timestamps, ids),
:mod:`importer` (plan, check, write), :mod:`summary` (what the command prints).
"""

from opscadence.imports.aliases import IMPORT_TABLES, load_aliases
from opscadence.imports.importer import NATURAL_KEYS, ImportPlan, WriteResult, plan_import, write_import

__all__ = ["IMPORT_TABLES", "NATURAL_KEYS", "ImportPlan", "WriteResult", "load_aliases", "plan_import", "write_import"]
