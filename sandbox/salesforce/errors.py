"""Salesforce-shaped errors: top-level REST errors and per-record save errors."""


class ApiError(Exception):
    """A whole-request failure: HTTP ``status`` with body ``[{"message", "errorCode"[, "fields"]}]``."""

    def __init__(self, status: int, error_code: str, message: str, fields: list | None = None, headers=None):
        super().__init__(f"{error_code}: {message}")
        self.status, self.error_code, self.message, self.fields = status, error_code, message, fields
        self.headers = headers or []

    def body(self) -> list:
        entry = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


class RecordError(Exception):
    """A per-record failure inside a save: ``{"statusCode", "message", "fields"}``."""

    def __init__(self, status_code: str, message: str, fields: list | None = None, http_status: int = 400):
        super().__init__(f"{status_code}: {message}")
        self.status_code, self.message, self.fields = status_code, message, fields or []
        self.http_status = http_status

    def as_dict(self) -> dict:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def as_api_error(self) -> ApiError:
        return ApiError(self.http_status, self.status_code, self.message, self.fields)


NOT_FOUND_MESSAGE = "The requested resource does not exist"
def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
