"""`GET /contacts/attributes`: the workspace's custom contact attributes, as the importer's dry run
checks a file's `custom_attributes.<name>` columns against them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WorkspaceAttribute(BaseModel):
    name: str
    data_type: str = Field(description="string, integer, float, boolean or date (Unix seconds)")
    api_writable: bool = Field(description="false: Intercom's API cannot write it")
    options: list[str] | None = Field(default=None, description="a list attribute's only values")


class AttributesResponse(BaseModel):
    attributes: list[WorkspaceAttribute]
