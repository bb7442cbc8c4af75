"""Weekly usage report, pushed by `usage-report-requests` (Cloud Scheduler, Monday 08:00 in
AIEXEC_REPORT_TIMEZONE). Message data: empty (previous ISO week), `{"week": "2026-W47"}` or
`{"start": ISO, "end": ISO}`. Logic: shared/reports/service.py."""

from typing import Any

import functions_framework

from shared.reports.service import handle_report_event


@functions_framework.cloud_event
def report(event: Any) -> None:
    handle_report_event(event)
