"""Rule expressions and their AST nodes."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from .common import In, Out


class ParseIn(In):
    expressions: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(min_length=1,
                                                                                           max_length=100)]


class ParsedOut(Out):
    expression: str
    valid: bool
    node: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ParseOut(Out):
    results: list[ParsedOut]


class PrintIn(In):
    nodes: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=100)]


class PrintOut(Out):
    expressions: list[str]
