"""Rule expressions: parse to AST nodes, print nodes back to text."""
from __future__ import annotations

from functools import partial

from ..domain import rules
from . import core
from .core import Call, ok
from .schemas import rules as s

ORG = "/organizations/<int:organizationId>"

# These routes were first published from api/earning.py: their endpoint names and operationIds
# (earning_<handler>) stay.
endpoint = partial(core.endpoint, name_prefix="earning")


@endpoint(f"{ORG}/rules/parse", "POST", role="campaigns:read", body=s.ParseIn, response=s.ParseOut, tag="Rules",
          summary="Parse expressions to AST nodes (with positions), or say where each is wrong")
def parse_rules(call: Call):
    results = []
    for text in call.body.expressions:
        try:
            results.append(s.ParsedOut(expression=text, valid=True, node=rules.to_json(rules.parse(text))))
        except rules.RuleSyntaxError as error:
            results.append(s.ParsedOut(expression=text, valid=False, error={
                "message": error.message, "line": error.line, "column": error.column}))
    return ok(s.ParseOut(results=results).dump())


@endpoint(f"{ORG}/rules/to-expression", "POST", role="campaigns:read", body=s.PrintIn, response=s.PrintOut,
          tag="Rules", summary="Turn AST nodes back into expression text")
def print_rules(call: Call):
    texts = []
    for index, node in enumerate(call.body.nodes):
        try:
            texts.append(rules.to_expression(rules.from_json(node)))
        except rules.ValidationFailed as error:
            error.errors = {f"nodes[{index}]": [error.message]}
            raise
    return ok(s.PrintOut(expressions=texts).dump())
