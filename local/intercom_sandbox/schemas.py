"""Intercom's wire contract: the vendored OpenAPI excerpts as JSON Schema validators, and its error list."""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

# Relative to this package, so that a plain clone of the repository has everything the sandbox reads.
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


class Answer(Exception):
    """What the sandbox sends back; raised where a request is refused, returned where it succeeds."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers: dict[str, str] = {}


def intercom_error(status: int, code: str, message: str, field_name: str | None = None) -> Answer:
    """An error list shaped as `error.2.16.json`."""
    item: dict[str, Any] = {"code": code, "message": message}
    if field_name:
        item["field"] = field_name
    return Answer(status, {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [item]})


@dataclass(frozen=True)
class Schemas:
    create: Draft202012Validator
    update: Draft202012Validator
    search: Draft202012Validator
    contact: Draft202012Validator
    error: Draft202012Validator
    fields: frozenset[str]  # what a create or update body may name
    versions: frozenset[str]  # the valid Intercom-Version values
    conflict_message: str  # the 409 for a live duplicate, with an example id
    archived_message: str  # the 409 for an archived duplicate
    create_attribute: Draft202012Validator  # body of POST /data_attributes
    attribute_list: Draft202012Validator  # answer of GET /data_attributes
    attribute_errors: dict[str, str]  # POST /data_attributes' documented 400 messages, by example name
    company_request: Draft202012Validator  # body of POST /companies
    company_fields: frozenset[str]  # what a POST /companies body may name
    company: Draft202012Validator  # a company as Intercom answers it
    attach_company: Draft202012Validator  # body of POST /contacts/{id}/companies
    tag_request: Draft202012Validator  # body of POST /tags
    tag_contact: Draft202012Validator  # body of POST /contacts/{id}/tags
    tag: Draft202012Validator  # a tag as Intercom answers it
    # The companies and tags routes' documented errors: (operation, example name) -> (status, code, message)
    documented_errors: dict[tuple[str, str], tuple[int, str, str]]

    def documented_error(self, operation: str, example: str, message: str | None = None) -> Answer:
        """The error Intercom's spec shows for `operation` under `example` (its message replaced by
        `message` where the example names another value)."""
        status, code, documented = self.documented_errors[operation, example]
        return intercom_error(status, code, message or documented)


@functools.cache
def load_schemas() -> Schemas:
    """Read once per process: every sandbox validates against the same files."""
    create = _read("create_contact_request.2.16.json")
    versions = _read("servers_and_version.2.16.json")["intercom_version"]["enum"]
    conflicts = _read("post_contacts_409_UNMERGED_draft_pr543.2.15.json")
    operations = _read("companies_tags_operations.2.16.json")
    company_request = _read("create_or_update_company_request.2.16.resolved.json")
    examples = conflicts["content"]["application/json"]["examples"]
    return Schemas(
        create=_validator(create),
        update=_validator(_read("update_contact_request.2.16.json")),
        search=_validator(
            _read("contact_search_request.2.16.resolved.json"),
            refs=("single_filter_search_request", "multiple_filter_search_request"),
        ),
        contact=_validator(_read("contact.2.16.resolved.json")),
        error=_validator(_read("error.2.16.json")),
        fields=frozenset(create["properties"]),
        versions=frozenset(versions),
        conflict_message=examples["Contact already exists"]["value"]["errors"][0]["message"],
        archived_message=examples["Archived contact already exists"]["value"]["errors"][0]["message"],
        create_attribute=_validator(_read("create_data_attribute_request.2.16.resolved.json")),
        attribute_list=_validator(_read("data_attribute_list.2.16.resolved.json")),
        attribute_errors={
            name: example["value"]["errors"][0]["message"]
            for name, example in _read("data_attributes_operations.2.16.json")["POST /data_attributes"][
                "responses"
            ]["400"]["content"]["application/json"]["examples"].items()
        },
        company_request=_validator(_loose_company(company_request)),
        company_fields=frozenset(company_request["properties"]),
        company=_validator(_loose_company(_read("company.2.16.resolved.json"))),
        attach_company=_validator(_request_schema(operations["POST /contacts/{contact_id}/companies"])),
        tag_request=_validator(_read("create_or_update_tag_request.2.16.resolved.json")),
        tag_contact=_validator(_request_schema(operations["POST /contacts/{contact_id}/tags"])),
        tag=_validator(_read("tag.2.16.resolved.json")),
        documented_errors={
            (name, example): (int(status), *_first_error(value["value"]))
            for name, operation in operations.items()
            for status, response in operation["responses"].items()
            if int(status) >= 400
            for example, value in response["content"]["application/json"].get("examples", {}).items()
        },
    )


def _request_schema(operation: Any) -> Any:
    return operation["requestBody"]["content"]["application/json"]["schema"]


def _first_error(error_list: Any) -> tuple[str, str]:
    first = error_list["errors"][0]
    return first["code"], first["message"]


def _loose_company(schema: Any) -> Any:
    """What Intercom takes where its schema is stricter than its own examples and notes: custom
    attribute values of any JSON scalar (the examples send booleans and numbers where the schema says
    string), and a float monthly_spend, which Intercom truncates."""
    loose = json.loads(json.dumps(schema))
    properties = loose["properties"]
    scalar = {"type": ["string", "number", "boolean", "null"]}
    properties["custom_attributes"]["additionalProperties"] = scalar
    properties["monthly_spend"]["type"] = "number"
    return loose


def _read(name: str) -> Any:
    return json.loads((SCHEMA_DIR / name).read_text())


def _validator(openapi_schema: Any, refs: tuple[str, ...] = ()) -> Draft202012Validator:
    """`refs` name the schemas the excerpt refers to (`#/components/schemas/<name>`), each vendored as
    `<name>.2.16.json`; the search filters refer to themselves, so they stay refs instead of inlined."""
    schema = _nullable_to_json_schema(openapi_schema)
    schema["$defs"] = {name: _nullable_to_json_schema(_read(f"{name}.2.16.json")) for name in refs}
    return Draft202012Validator(schema)


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` -> JSON Schema's `type: [t, "null"]`; drop `example`s; point
    `$ref`s at `$defs`."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _nullable_to_json_schema(v) for k, v in node.items() if k not in {"nullable", "example"}}
    if "$ref" in node:
        converted["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
    choices = converted.get("oneOf", [])
    if choices and all(choice.get("type") == "array" for choice in choices):
        # A search group may mix filters and groups (`role = user AND (email = x OR ...)`), which
        # the spec's choice between an array of one and an array of the other does not allow.
        del converted["oneOf"]
        converted.update(type="array", items={"anyOf": [choice["items"] for choice in choices]})
    if node.get("nullable") and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
    if converted.get("format") == "date-time" and converted.get("type") in ("integer", ["integer", "null"]):
        converted.pop("format")  # Intercom marks Unix-seconds integers as date-time
    return converted
