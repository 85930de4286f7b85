"""The JSON request and response helpers every Salesforce endpoint uses, kept below them so none imports another."""

import json

from werkzeug.wrappers import Request, Response

from sandbox.salesforce.errors import ApiError


def json_response(body, status: int = 200, headers=None) -> Response:
    data = b"" if body is None else json.dumps(body).encode()
    response = Response(data, status=status, headers=headers or [])
    if body is not None:
        response.headers["Content-Type"] = "application/json;charset=UTF-8"
    return response


def parse_json(request: Request):
    data = request.get_data(as_text=True)
    try:
        return json.loads(data) if data.strip() else None
    except json.JSONDecodeError as exc:
        char = data[exc.pos:exc.pos + 1] or "EOF"
        raise ApiError(400, "JSON_PARSER_ERROR",
                       f"Unexpected character ('{char}' (code {ord(char[0]) if char != 'EOF' else -1})): "
                       f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]") from None
