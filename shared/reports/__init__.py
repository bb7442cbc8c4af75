"""The usage report: periods, aggregation of rollups, renderings, chart, delivery, service.

Entry points: `service.handle_report_event` (the `report` function, triggered on
`usage-report-requests`) and `aiexec/cli/report.py` (`aiexec report`).
"""
