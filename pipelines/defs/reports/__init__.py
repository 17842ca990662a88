"""Weekly KPIs and the weekly KPI report: weekly-partitioned assets, their job and the Monday schedule."""
