"""The campaign rule language: a table of expressions with their results or errors."""
from decimal import Decimal

import pytest

from portal.domain import rules
from portal.domain.rules import RuleEvaluationError, RuleSyntaxError

EVENT = {
    "order": {"total": Decimal("54.90"), "discountedTotal": Decimal("49.90"), "location": "BER-01",
              "items": [{"sku": "LATTE", "category": "coffee", "quantity": 2, "unitPrice": Decimal("3.90")},
                        {"sku": "CAKE", "category": "bakery", "quantity": 1, "unitPrice": Decimal("4.50")}],
              "weekday": "saturday", "hour": 9},
    "member": {"tier": "gold", "city": "Berlin", "customAttributes": {"vip": True, "favourite": "tea"},
               "audiences": ["newsletter", "students"], "balance": 1200, "birthDate": None},
}

VALID = [
    ('order.total >= 50 and order.location in ["BER-01", "HAM-02"]', True),
    ('any(item.category == "coffee" for item in order.items)', True),
    ('member.tier == "gold"', True),
    ('member.tier == "silver"', False),
    ('order.total > 100', False),
    ('order.total >= 54.90', True),
    ('order.total == 54.9', True),
    ('order.discountedTotal < order.total', True),
    ('order.location not in ["HAM-02"]', True),
    ('not member.customAttributes.vip', False),
    ('member.customAttributes.favourite == "tea" or member.tier == "bronze"', True),
    ('"students" in member.audiences', True),
    ('all(item.quantity >= 1 for item in order.items)', True),
    ('count(item for item in order.items if item.category == "coffee")', 1),
    ('sum(item.quantity for item in order.items)', 3),
    ('sum(item.quantity * item.unitPrice for item in order.items)', Decimal("12.30")),
    ('len(order.items) == 2', True),
    ('max(item.unitPrice for item in order.items)', Decimal("4.50")),
    ('min(1, 2, 3)', 1),
    ('lower(member.city) == "berlin"', True),
    ('upper(order.location)', "BER-01"),
    ('contains(order.location, "BER")', True),
    ('startswith(order.location, "HAM")', False),
    ('order.items[0].sku', "LATTE"),
    ('order.items[5].sku', None),
    ('member.missing.deeper', None),
    ('member.birthDate == null', True),
    ('member.birthDate > 3', False),
    ('(1 + 2) * 3', 9),
    ('1 + 2 * 3', 7),
    ('10 / 4', Decimal("2.5")),
    ('-(2 - 5)', 3),
    ('7 % 4 == 3', True),
    ('order.hour >= 8 and order.hour < 12 and order.weekday == "saturday"', True),
    ('true and not false', True),
    ("'single quoted' == \"single quoted\"", True),
    ('member.balance >= 1000 and member.tier in ["gold", "platinum"]', True),
    ('round(order.total, 0)', Decimal("55")),
]

INVALID = [
    ("", "empty", 1, 1),
    ("order.total >=", "Expected a value", 1, 15),
    ("order.total >= 50 and", "Expected a value", 1, 22),
    ("a ++ b", "Expected a value", 1, 4),
    ("eval('1')", "Unknown function 'eval'", 1, 1),
    ("__import__('os')", "Unknown function", 1, 1),
    ("1 < 2 < 3", "Chained comparisons", 1, 7),
    ("x = 1", "Unexpected character '='", 1, 3),
    ('"unterminated', "Unexpected character", 1, 1),
    ("order.", "attribute name", 1, 7),
    ("(1 + 2", "Expected ')'", 1, 7),
    ("[1, 2", "Expected ','", 1, 6),
    ("len(x for x in y)", "does not take 'for'", 1, 1),
    ("member.tier ==\n  and 1", "Expected a value", 2, 3),
    ("1 2", "Expected an operator", 1, 3),
    ("a.b.c @ 2", "Unexpected character '@'", 1, 7),
]


@pytest.mark.parametrize("expression,expected", VALID)
def test_valid_expressions_evaluate(expression, expected):
    assert rules.evaluate(rules.parse(expression), EVENT) == expected


@pytest.mark.parametrize("expression,_", VALID)
def test_parse_then_print_round_trips(expression, _):
    ast = rules.parse(expression)
    printed = rules.to_expression(ast)
    assert rules.strip_positions(rules.parse(printed)) == rules.strip_positions(ast)
    assert rules.to_expression(rules.parse(printed)) == printed


@pytest.mark.parametrize("expression,message,line,column", INVALID)
def test_invalid_expressions_name_line_and_column(expression, message, line, column):
    with pytest.raises(RuleSyntaxError) as caught:
        rules.parse(expression)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"line {line}, column {column}" in caught.value.message


def test_table_is_large_enough():
    assert len(VALID) + len(INVALID) >= 30


def test_positions_are_recorded():
    ast = rules.parse('member.tier == "gold"')
    assert ast["start"] == {"line": 1, "column": 1}
    assert ast["end"] == {"line": 1, "column": 22}
    assert ast["right"]["start"] == {"line": 1, "column": 16}


@pytest.mark.parametrize("expression", ['order.location > 5', 'sum(x for x in member.city)', '1 / 0',
                                        '"a" in 5', '-member.city'])
def test_type_mismatches_raise_evaluation_errors(expression):
    with pytest.raises(RuleEvaluationError):
        rules.evaluate(rules.parse(expression), EVENT)


def test_json_round_trip_keeps_decimals_exact():
    ast = rules.parse("order.total >= 49.90")
    restored = rules.from_json(rules.to_json(ast))
    assert restored == ast
    assert rules.to_json(ast)["right"]["valueType"] == "decimal"


@pytest.mark.parametrize("node", [{"type": "exec"}, {"type": "call", "func": "open", "args": []},
                                  {"type": "name", "id": "a b"}, {"type": "compare", "op": "is",
                                                                  "left": {"type": "name", "id": "a"},
                                                                  "right": {"type": "name", "id": "b"}}])
def test_foreign_asts_are_refused(node):
    with pytest.raises(rules.ValidationFailed):
        rules.to_expression(node)


def test_length_and_depth_are_bounded():
    with pytest.raises(RuleSyntaxError):
        rules.parse("1 + " * 2000 + "1")
    with pytest.raises(RuleSyntaxError):
        rules.parse("(" * 100 + "1" + ")" * 100)


def test_a_syntax_error_names_the_field_the_caller_gives():
    with pytest.raises(RuleSyntaxError) as refused:
        rules.parse("order.total >", field="rules[2]")
    error = refused.value
    assert (error.field, error.reason, error.line, error.column) == (
        "rules[2]", "Expected a value, found end of expression", 1, 14)
    assert error.errors == {"rules[2]": ["Expected a value, found end of expression at line 1, column 14"]}
    with pytest.raises(RuleSyntaxError) as refused:
        rules.parse("")
    assert refused.value.field == "expression"


@pytest.mark.parametrize("text, column", [("not " * 999 + "x", 241), ("-" * 3000 + "1", 61),
                                          ("not " * 30 + "-" * 40 + "1", 151)], ids=["nots", "minuses", "mixed"])
def test_long_runs_of_not_and_minus_count_as_nesting(text, column):
    with pytest.raises(RuleSyntaxError) as refused:
        rules.parse(text)
    assert "nested too deeply" in refused.value.message and refused.value.column == column


@pytest.mark.parametrize("operator", [" + ", " or ", " and ", "."])
def test_a_run_of_operators_is_bounded_like_brackets(operator):
    """60 operators make an AST 61 nodes deep, as deep as to_expression takes; one more is refused at parse,
    not by a RecursionError when the AST is printed, evaluated or turned into JSON."""
    longest = "a" + (operator + "a") * rules.MAX_DEPTH
    assert rules.parse(rules.to_expression(rules.from_json(rules.to_json(rules.parse(longest))))) is not None
    nest: dict = {}
    nest["a"] = nest  # a.a.a... is still a dict
    rules.evaluate(rules.parse(longest), {"a": nest if operator == "." else 1})
    with pytest.raises(RuleSyntaxError) as refused:
        rules.parse(longest + operator + "a")
    assert "nested too deeply" in refused.value.message
    with pytest.raises(RuleSyntaxError):
        rules.parse("a" + (operator + "a") * 900)


def test_runs_of_not_and_minus_within_the_depth_still_parse():
    assert rules.evaluate(rules.parse("not " * 58 + "true"), {}) is True
    assert rules.evaluate(rules.parse("-" * 59 + "1"), {}) == -1


def test_the_parser_binds_operators_as_the_printer_does():
    """The parser's operator levels follow PRECEDENCE, which the printer places parentheses by: one strength a
    level, loosest first, with `not` and the comparisons between the logical and the arithmetic levels."""
    strengths = [{rules.PRECEDENCE[op] for op in symbols} for _, symbols, _ in rules.OPERATOR_LEVELS]
    assert all(len(level) == 1 for level in strengths)
    order = [min(level) for level in strengths]
    assert order == sorted(order) and len(set(order)) == len(order)
    arithmetic = order[rules.ARITHMETIC]
    assert order[rules.ARITHMETIC - 1] < rules.PRECEDENCE["not"] < rules.PRECEDENCE["compare"] < arithmetic
    assert rules.PRECEDENCE["neg"] > order[-1]
    assert {op for _, symbols, _ in rules.OPERATOR_LEVELS for op in symbols} == {
        op for op in rules.PRECEDENCE if op in ("or", "and") or not op.isalpha()}
