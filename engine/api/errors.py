"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with a status, so
the `openai` client libraries raise their usual classes (BadRequestError, AuthenticationError,
RateLimitError, ...) carrying our message."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse

# The `type` OpenAI's API gives each status we answer with.
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


@dataclass
class ApiError(Exception):
    """A request the API answers with an error; `message` is for the person who sent it."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return self.message

    def response(self) -> JSONResponse:
        """The JSON answer (with Retry-After for 429 and WWW-Authenticate for 401)."""
        body = {
            "error": {
                "message": self.message,
                "type": _TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }
        headers = {}
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(body, status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 about one field of the request."""
    return ApiError(400, message, param=param, code=code)


__all__ = ["ApiError", "bad_request"]
