"""Data for embedded dashboards: chart data and query API, dashboards, plans, row policy, result cache."""
