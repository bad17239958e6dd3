"""What ``opscadence import`` prints: rows per table and day, the columns used, what personal
data was dropped or hashed (by header, never a value), duplicates, and the problems."""

from __future__ import annotations

from opscadence.imports.importer import MAX_LISTED, ImportPlan, WriteResult


def summary_lines(plan: ImportPlan, *, dry_run: bool, written: WriteResult | None = None) -> list[str]:
    table = f"raw_{plan.table}"
    lines: list[str] = []
    rows = len(plan.frame)
    if dry_run:
        lines.append(f"dry run: nothing written. {table} would get {rows:,} rows from {len(plan.files)} file(s)"
                     if plan.ok else f"dry run: {plan.problem_count} problem(s); nothing would be imported")
    else:
        counts = "" if written is None else (f": {written.new:,} new, {written.changed:,} changed (replacing the row "
                                             f"with their key), {written.unchanged:,} already there unchanged")
        lines.append(f"imported {rows:,} rows into {table} from {len(plan.files)} file(s) in one transaction{counts}")
    for report in plan.files:
        notes = f" ({'; '.join(report.notes)})" if report.notes else ""
        lines.append(f"  {report.label}: {report.rows:,} rows{notes}")
        if report.mapped:
            lines.append("    columns: " + ", ".join(f"{h} → {c}" if h != c else c for c, h in report.mapped.items()))
        if report.hashed:
            lines.append("    personal data hashed (keyed hash): " + ", ".join(report.hashed))
        if report.dropped:
            lines.append("    personal data dropped (not read): " + ", ".join(report.dropped))
        if report.unused:
            lines.append("    not used: " + ", ".join(report.unused))
        if report.ignored:
            lines.append("    ignored (no matching column): " + ", ".join(report.ignored))
    if plan.identical_duplicates:
        lines.append(f"  duplicates ignored: {plan.identical_duplicates:,} row(s) identical to an earlier one")
    per_day = plan.rows_per_day()
    if per_day:
        lines.append(f"  rows per day ({len(per_day)} day(s)): "
                     + ", ".join(f"{day} {count:,}" for day, count in per_day.items()))
    if not plan.ok:
        listed = plan.problems[:MAX_LISTED]
        lines.append(f"  problems ({plan.problem_count}" + (f", the first {len(listed)}" if plan.problem_count > len(listed)
                                                           else "") + "):")
        lines += [f"    {p}" for p in listed]
    return lines
