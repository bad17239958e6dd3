"""What a validation returns: one :class:`CheckResult` per check, gathered per day in a
:class:`ValidationReport`.

Results never carry personal data: samples are record ids plus row numbers, details name
the source, column and rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from opscadence.core import model

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class CheckResult:
    table: str
    expectation: str
    column: str | None
    severity: str  # critical | warning
    success: bool
    unexpected_count: int | None
    sample: list[str] = field(default_factory=list)
    detail: str = ""
    # (i18n key, arguments) when the finding is worded by the catalogue; ``detail`` is its en text.
    message: tuple[str, dict[str, str]] | None = field(default=None, compare=False)

    @property
    def critical(self) -> bool:
        return self.severity == CRITICAL


@dataclass
class ValidationReport:
    ds: date
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        """True unless a critical check failed."""
        return not self.critical_failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    @property
    def critical_failures(self) -> list[CheckResult]:
        return [r for r in self.failures if r.severity == CRITICAL]

    def issues(self) -> list[model.DataQualityIssue]:
        """The failed checks as brief-ready issues, critical first."""
        ordered = sorted(self.failures, key=lambda r: r.severity != CRITICAL)  # stable
        return [
            model.DataQualityIssue(
                table=r.table, expectation=r.expectation, column=r.column, severity=r.severity,
                unexpected_count=r.unexpected_count, sample=list(r.sample), detail=r.detail, message=r.message,
            )
            for r in ordered
        ]

    def summary(self) -> str:
        crit, warn = len(self.critical_failures), len(self.failures) - len(self.critical_failures)
        state = "passed" if self.passed else "FAILED"
        return f"data quality {self.ds.isoformat()}: {state} ({len(self.results)} checks, {crit} critical, {warn} warning failures)"
