"""Every response the suite receives through the test API client is checked against the
app's own /api/openapi.json: its status must be documented for the route, and its body
must match the documented schema (required fields present, nothing undocumented)."""

from __future__ import annotations

import re

import jsonschema


class OpenApiCheck:
    def __init__(self, spec: dict):
        self.spec = spec
        self.routes = []
        for template, operations in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\{[^}/]+\\}", "[^/]+", template) + "$")
            self.routes.append((pattern, operations))

    def _resolve(self, node):
        """The node with every $ref inlined and OpenAPI 3.0's nullable made JSON Schema."""
        if isinstance(node, list):
            return [self._resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return self._resolve(target)
        out = {key: self._resolve(value) for key, value in node.items()}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        return out

    def operation(self, method: str, path: str) -> dict | None:
        path = path.split("?", 1)[0]
        for pattern, operations in self.routes:
            if pattern.match(path) and method.lower() in operations:
                return operations[method.lower()]
        return None

    def check(self, method: str, path: str, status: int, content_type: str, body) -> None:
        operation = self.operation(method, path)
        if operation is None:
            return  # not an API route (pages, /ws)
        responses = operation["responses"]
        documented = responses.get(str(status))
        assert documented is not None, (
            f"{method} {path} answered {status}, which its description does not list "
            f"({', '.join(responses)})")
        documented = self._resolve(documented)
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            assert content_type != "application/json" or status == 204, (
                f"{method} {path} {status}: a JSON body the description does not mention")
            return
        assert content_type == "application/json", f"{method} {path} {status}: not JSON"
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=str)
        assert not errors, (f"{method} {path} {status} does not match its description: "
                            + "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                        for e in errors[:5]))
