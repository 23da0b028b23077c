"""The experiment ledger: every run of the org, and honest verdicts on variants."""

from orgtui.ledger.runs import Run, load_run, load_runs
from orgtui.ledger.verdicts import (
    VERDICTS,
    Comparison,
    Ledger,
    LedgerError,
    Report,
    VariantRow,
    store_baseline,
    stored_baseline,
)

__all__ = [
    "VERDICTS",
    "Comparison",
    "Ledger",
    "LedgerError",
    "Report",
    "Run",
    "VariantRow",
    "load_run",
    "load_runs",
    "store_baseline",
    "stored_baseline",
]
