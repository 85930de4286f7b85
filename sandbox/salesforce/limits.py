"""The ``/limits`` body: the org's daily API allocation (live) and the other limits an org reports (static)."""

STATIC = {
    "ConcurrentAsyncGetReportInstances": 200, "ConcurrentSyncReportRuns": 20, "DailyAsyncApexExecutions": 250000,
    "DailyBulkApiBatches": 15000, "DailyBulkApiRequests": 10000, "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyBulkV2QueryJobs": 10000,
    "DailyDurableGenericStreamingApiEvents": 10000, "DailyDurableStreamingApiEvents": 10000,
    "DailyGenericStreamingApiEvents": 10000, "DailyStreamingApiEvents": 10000, "DailyWorkflowEmails": 390,
    "DataStorageMB": 5, "DurableStreamingApiConcurrentClients": 20, "FileStorageMB": 20,
    "HourlyAsyncReportRuns": 1200, "HourlyDashboardRefreshes": 200, "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999, "HourlyODataCallout": 10000, "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50, "MassEmail": 10, "SingleEmail": 15, "StreamingApiConcurrentClients": 20,
}


def body(used: int, allocation: int) -> dict:
    out = {name: {"Max": value, "Remaining": value} for name, value in STATIC.items()}
    out["DailyApiRequests"] = {"Max": allocation, "Remaining": max(0, allocation - used)}
    return dict(sorted(out.items()))
