"""The rule language of campaigns: small, safe, and printable.

    order.total >= 50 and order.location in ["BER-01", "HAM-02"]
    any(item.category == "coffee" for item in order.items)
    member.tier == "gold"

Invariants:
- Nothing is ever handed to Python's eval: text is tokenised and parsed here
  into plain-dict AST nodes (JSON-able, with start/end line and column), and
  evaluated by walking them over plain data (dicts, lists, numbers, strings).
- `to_expression(parse(text))` parses back to the same AST (positions aside).
- Numbers with a decimal point are Decimal, never float, so money compares exactly.
- Bounded: expressions longer than MAX_LENGTH or nested deeper than MAX_DEPTH
  (counting brackets, each prefix `not` and `-`, and the depth of the AST a run of operators
  builds) are refused at parse time: every parsed AST prints, evaluates and goes through JSON.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from .errors import ValidationFailed

MAX_LENGTH = 4000
MAX_DEPTH = 60

KEYWORDS = {"and", "or", "not", "in", "for", "if", "true", "false", "null"}
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
COMPARISONS = ("==", "!=", "<=", ">=", "<", ">", "in", "not in")
AGGREGATES = {"any", "all", "sum", "count", "min", "max"}
FUNCTIONS = AGGREGATES | {"len", "lower", "upper", "abs", "round", "contains", "startswith", "number"}

# Binding strength, loosest first; the printer uses it to place parentheses.
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
              "neg": 7, "postfix": 8, "atom": 9}
# The parser's levels of left-associative operators, in PRECEDENCE's order (a test holds them to it, so that what
# the parser reads the printer writes back): the node type, the operators, and the parser method of the operands
# where that is not the next level. `not` and one comparison come between the logical and the arithmetic levels.
OPERATOR_LEVELS = (("logical", ("or",), None), ("logical", ("and",), "not_expr"),
                   ("binary", ("+", "-"), None), ("binary", ("*", "/", "%"), "unary"))
LOGICAL, ARITHMETIC = 0, 2

TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[<>+\-*/%().,\[\]])
""", re.VERBOSE)


class RuleSyntaxError(ValidationFailed):
    code = "rule_syntax"
    title = "Invalid rule expression"

    def __init__(self, reason: str, line: int, column: int, field: str = "expression"):
        self.reason, self.line, self.column = reason, line, column
        super().__init__(f"{reason} at line {line}, column {column}", field=field)


class RuleEvaluationError(Exception):
    """A well-formed rule that cannot be evaluated on this event (e.g. comparing text with a number)."""


@dataclass
class Token:
    kind: str
    text: str
    line: int
    column: int
    end_line: int
    end_column: int


# --- tokenising ---------------------------------------------------------------

def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        match = TOKEN.match(source, pos)
        if match is None:
            raise RuleSyntaxError(f"Unexpected character {source[pos]!r}", line, pos - line_start + 1)
        text = match.group()
        kind = match.lastgroup
        start_line, start_col = line, pos - line_start + 1
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rfind("\n") + 1
        pos = match.end()
        if kind == "ws":
            continue
        tokens.append(Token(kind, text, start_line, start_col, line, pos - line_start + 1))
    tokens.append(Token("end", "", line, pos - line_start + 1, line, pos - line_start + 1))
    return tokens


# --- parsing -------------------------------------------------------------------

def parse(source: str, field: str = "expression") -> dict:
    """Text to AST. Raises RuleSyntaxError naming line and column, on `field` (the text's name in the request:
    `matcher`, `rules[2]`...)."""
    try:
        if not isinstance(source, str) or not source.strip():
            raise RuleSyntaxError("The expression is empty", 1, 1)
        if len(source) > MAX_LENGTH:
            raise RuleSyntaxError(f"The expression is longer than {MAX_LENGTH} characters", 1, MAX_LENGTH)
        return _Parser(tokenize(source)).parse()
    except RuleSyntaxError as error:
        if error.field == field:
            raise
        raise RuleSyntaxError(error.reason, error.line, error.column, field=field) from None


@lru_cache(maxsize=4096)
def compiled(source: str) -> dict:
    """parse() remembered per text, for evaluating stored rules on every event. Callers must not mutate the AST."""
    return parse(source)


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens, self.index, self.depth = tokens, 0, 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def at(self, text: str) -> bool:
        tok = self.current
        return tok.kind in ("op", "name") and tok.text == text

    def take(self) -> Token:
        tok = self.current
        self.index += 1
        return tok

    def expect(self, text: str) -> Token:
        if not self.at(text):
            self.fail(f"Expected {text!r}")
        return self.take()

    def fail(self, message: str):
        tok = self.current
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        raise RuleSyntaxError(f"{message}, found {found}", tok.line, tok.column)

    def parse(self) -> dict:
        node = self.expression()
        if self.current.kind != "end":
            self.fail("Expected an operator or the end of the expression")
        deep = _too_deep(node)
        if deep is not None:  # a long run of operators (`a + a + ...`) makes a tree as deep as brackets do
            raise RuleSyntaxError("The expression is nested too deeply", deep["start"]["line"],
                                  deep["start"]["column"])
        return node

    def expression(self) -> dict:
        return self.nested(self.operators, LOGICAL)

    def nested(self, parse: Callable[..., dict], *args: Any) -> dict:
        """`parse(*args)` one level deeper: brackets, and each prefix `not` or `-` (so a long run of them is refused
        like deep brackets, before Python's own recursion limit is reached)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("The expression is nested too deeply")
        node = parse(*args)
        self.depth -= 1
        return node

    def operators(self, level: int) -> dict:
        """The left-associative operators of OPERATOR_LEVELS[level] and all that binds tighter. Each level calls
        the next directly, so a bracket costs one Python frame a level (as a method a level would) and MAX_DEPTH
        brackets stay well inside the recursion limit; a loop helper called by each level would add a frame."""
        kind, symbols, tighter = OPERATOR_LEVELS[level]
        node = self.operators(level + 1) if tighter is None else getattr(self, tighter)()
        while self.current.kind in ("op", "name") and self.current.text in symbols:
            op = self.take().text
            right = self.operators(level + 1) if tighter is None else getattr(self, tighter)()
            node = _span({"type": kind, "op": op, "left": node, "right": right})
        return node

    def not_expr(self) -> dict:
        if self.at("not"):
            tok = self.take()
            return _prefixed("not", tok, self.nested(self.not_expr))
        return self.comparison()

    def comparison(self) -> dict:
        node = self.operators(ARITHMETIC)
        op = None
        if self.current.kind == "op" and self.current.text in ("==", "!=", "<=", ">=", "<", ">"):
            op = self.take().text
        elif self.at("in"):
            self.take()
            op = "in"
        elif self.at("not") and self.peek().text == "in":
            self.take()
            self.take()
            op = "not in"
        if op is None:
            return node
        node = _span({"type": "compare", "op": op, "left": node, "right": self.operators(ARITHMETIC)})
        if self.current.kind == "op" and self.current.text in ("==", "!=", "<=", ">=", "<", ">") or self.at("in"):
            self.fail("Chained comparisons are not supported; join them with 'and'")
        return node

    def unary(self) -> dict:
        if self.current.kind == "op" and self.current.text == "-":
            tok = self.take()
            return _prefixed("negate", tok, self.nested(self.unary))
        return self.postfix()

    def postfix(self) -> dict:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.current
                if name.kind != "name":
                    self.fail("Expected an attribute name after '.'")
                self.take()
                node = {"type": "attribute", "object": node, "name": name.text, "start": node["start"],
                        "end": _end(name)}
            elif self.at("["):
                self.take()
                index = self.expression()
                close = self.expect("]")
                node = {"type": "index", "object": node, "index": index, "start": node["start"], "end": _end(close)}
            else:
                return node

    def primary(self) -> dict:
        tok = self.current
        if tok.kind == "number":
            self.take()
            value = Decimal(tok.text) if "." in tok.text else int(tok.text)
            return {"type": "literal", "value": value, "start": _pos(tok), "end": _end(tok)}
        if tok.kind == "string":
            self.take()
            return {"type": "literal", "value": _unquote(tok), "start": _pos(tok), "end": _end(tok)}
        if tok.kind == "name":
            if tok.text in CONSTANTS:
                self.take()
                return {"type": "literal", "value": CONSTANTS[tok.text], "start": _pos(tok), "end": _end(tok)}
            if tok.text in KEYWORDS:
                self.fail("Expected a value")
            self.take()
            if self.at("("):
                return self.call(tok)
            return {"type": "name", "id": tok.text, "start": _pos(tok), "end": _end(tok)}
        if self.at("("):
            self.take()
            node = self.expression()
            self.expect(")")
            return node
        if self.at("["):
            open_tok = self.take()
            items = []
            while not self.at("]"):
                items.append(self.expression())
                if not self.at("]"):
                    self.expect(",")
            close = self.take()
            return {"type": "list", "items": items, "start": _pos(open_tok), "end": _end(close)}
        self.fail("Expected a value")

    def call(self, name: Token) -> dict:
        if name.text not in FUNCTIONS:
            raise RuleSyntaxError(f"Unknown function {name.text!r}", name.line, name.column)
        self.expect("(")
        args: list[dict] = []
        if not self.at(")"):
            first = self.expression()
            if self.at("for"):
                return self.comprehension(name, first)
            args.append(first)
            while self.at(","):
                self.take()
                args.append(self.expression())
        close = self.expect(")")
        return {"type": "call", "func": name.text, "args": args, "start": _pos(name), "end": _end(close)}

    def comprehension(self, name: Token, element: dict) -> dict:
        if name.text not in AGGREGATES:
            raise RuleSyntaxError(f"{name.text}() does not take 'for'", name.line, name.column)
        self.expect("for")
        var = self.current
        if var.kind != "name" or var.text in KEYWORDS:
            self.fail("Expected a variable name after 'for'")
        self.take()
        self.expect("in")
        iterable = self.operators(LOGICAL)
        condition = None
        if self.at("if"):
            self.take()
            condition = self.operators(LOGICAL)
        close = self.expect(")")
        return {"type": "comprehension", "func": name.text, "element": element, "var": var.text,
                "iterable": iterable, "condition": condition, "start": _pos(name), "end": _end(close)}


CHILDREN = ("object", "index", "operand", "left", "right", "element", "iterable", "condition")


def _too_deep(node: dict, depth: int = 0) -> dict | None:
    """The first node deeper than MAX_DEPTH (what `_check_node` refuses), else None; recurses MAX_DEPTH levels at most."""
    if depth > MAX_DEPTH:
        return node
    children = [node[key] for key in CHILDREN if isinstance(node.get(key), dict)]
    for child in children + node.get("items", []) + node.get("args", []):
        found = _too_deep(child, depth + 1)
        if found is not None:
            return found
    return None


def _pos(tok: Token) -> dict:
    return {"line": tok.line, "column": tok.column}


def _end(tok: Token) -> dict:
    return {"line": tok.end_line, "column": tok.end_column}


def _prefixed(kind: str, tok: Token, operand: dict) -> dict:
    """The node of a prefix operator (`not`, `-`): from the operator to the end of its operand."""
    return {"type": kind, "operand": operand, "start": _pos(tok), "end": operand["end"]}


def _span(node: dict) -> dict:
    node["start"], node["end"] = node["left"]["start"], node["right"]["end"]
    return node


def _unquote(tok: Token) -> str:
    body = tok.text[1:-1]
    try:
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
    except re.error:  # pragma: no cover - the token pattern guarantees well-formed escapes
        raise RuleSyntaxError("Bad escape in string", tok.line, tok.column) from None


# --- printing ------------------------------------------------------------------

def to_expression(node: dict) -> str:
    """AST to canonical text; parentheses only where precedence needs them."""
    _check_node(node)
    return _print(node)


def _strength(node: dict) -> int:
    kind = node["type"]
    if kind == "logical":
        return PRECEDENCE[node["op"]]
    if kind == "not":
        return PRECEDENCE["not"]
    if kind == "compare":
        return PRECEDENCE["compare"]
    if kind == "binary":
        return PRECEDENCE[node["op"]]
    if kind == "negate":
        return PRECEDENCE["neg"]
    if kind in ("attribute", "index"):
        return PRECEDENCE["postfix"]
    return PRECEDENCE["atom"]


def _wrap(node: dict, minimum: int) -> str:
    text = _print(node)
    return f"({text})" if _strength(node) < minimum else text


def _print(node: dict) -> str:
    kind = node["type"]
    if kind == "literal":
        return _literal(node["value"])
    if kind == "name":
        return node["id"]
    if kind == "list":
        return "[" + ", ".join(_print(i) for i in node["items"]) + "]"
    if kind == "attribute":
        return f"{_wrap(node['object'], PRECEDENCE['postfix'])}.{node['name']}"
    if kind == "index":
        return f"{_wrap(node['object'], PRECEDENCE['postfix'])}[{_print(node['index'])}]"
    if kind == "negate":
        return f"-{_wrap(node['operand'], PRECEDENCE['neg'])}"
    if kind == "not":
        return f"not {_wrap(node['operand'], PRECEDENCE['not'])}"
    if kind in ("logical", "binary"):
        strength = _strength(node)
        # Left-associative: the right side needs parentheses at equal strength.
        return f"{_wrap(node['left'], strength)} {node['op']} {_wrap(node['right'], strength + 1)}"
    if kind == "compare":
        strength = PRECEDENCE["compare"]
        return f"{_wrap(node['left'], strength + 1)} {node['op']} {_wrap(node['right'], strength + 1)}"
    if kind == "call":
        return f"{node['func']}(" + ", ".join(_print(a) for a in node["args"]) + ")"
    if kind == "comprehension":
        text = f"{node['func']}({_print(node['element'])} for {node['var']} in {_wrap(node['iterable'], 2)}"
        if node.get("condition") is not None:
            text += f" if {_wrap(node['condition'], 2)}"
        return text + ")"
    raise ValidationFailed(f"Unknown node type {kind!r}", field="nodes")


def _literal(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    if isinstance(value, int):
        if value < 0:
            raise ValidationFailed("Negative literals are written as negate nodes", field="nodes")
        return str(value)
    if isinstance(value, float):
        return _literal(Decimal(str(value)))
    raise ValidationFailed(f"Unsupported literal {value!r}", field="nodes")


NODE_FIELDS = {
    "literal": {"value"}, "name": {"id"}, "list": {"items"}, "attribute": {"object", "name"},
    "index": {"object", "index"}, "negate": {"operand"}, "not": {"operand"}, "logical": {"op", "left", "right"},
    "binary": {"op", "left", "right"}, "compare": {"op", "left", "right"}, "call": {"func", "args"},
    "comprehension": {"func", "element", "var", "iterable"},
}


def _check_node(node: Any, depth: int = 0) -> None:
    """Validate an AST that came from outside (the API) before printing or evaluating it."""
    if depth > MAX_DEPTH:
        raise ValidationFailed("The AST is nested too deeply", field="nodes")
    if not isinstance(node, dict) or node.get("type") not in NODE_FIELDS:
        raise ValidationFailed("Each node needs a known 'type'", field="nodes")
    missing = NODE_FIELDS[node["type"]] - set(node)
    if missing:
        raise ValidationFailed(f"A {node['type']} node needs {sorted(missing)[0]!r}", field="nodes")
    kind = node["type"]
    ops = {"logical": ("and", "or"), "binary": ("+", "-", "*", "/", "%"), "compare": COMPARISONS}
    if kind in ops and node["op"] not in ops[kind]:
        raise ValidationFailed(f"Unknown operator {node['op']!r}", field="nodes")
    if kind in ("call", "comprehension") and node["func"] not in (FUNCTIONS if kind == "call" else AGGREGATES):
        raise ValidationFailed(f"Unknown function {node['func']!r}", field="nodes")
    for key in ("name", "id", "var"):
        if key in NODE_FIELDS[kind] and (not isinstance(node[key], str)
                                         or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node[key])
                                         or node[key] in KEYWORDS):
            raise ValidationFailed(f"{key} must be an identifier", field="nodes")
    for child_key in ("object", "index", "operand", "left", "right", "element", "iterable"):
        if child_key in node and child_key in NODE_FIELDS[kind] | {"condition"}:
            _check_node(node[child_key], depth + 1)
    if node.get("condition") is not None:
        _check_node(node["condition"], depth + 1)
    for child in node.get("items", []) if kind == "list" else node.get("args", []) if kind == "call" else []:
        _check_node(child, depth + 1)


def strip_positions(node: Any) -> Any:
    """The AST without start/end, for comparing two parses."""
    if isinstance(node, dict):
        return {k: strip_positions(v) for k, v in node.items() if k not in ("start", "end")}
    if isinstance(node, list):
        return [strip_positions(v) for v in node]
    return node


# --- evaluating ------------------------------------------------------------------

def evaluate(node: dict, context: dict[str, Any]) -> Any:
    """Walk the AST over plain data. Raises RuleEvaluationError for type mismatches."""
    return _eval(node, context)


def matches(node: dict, context: dict[str, Any]) -> bool:
    return bool(_eval(node, context))


def _eval(node: dict, scope: dict[str, Any]) -> Any:
    kind = node["type"]
    if kind == "literal":
        return node["value"]
    if kind == "name":
        return scope.get(node["id"])
    if kind == "list":
        return [_eval(i, scope) for i in node["items"]]
    if kind == "attribute":
        target = _eval(node["object"], scope)
        if isinstance(target, dict):
            return target.get(node["name"])
        if target is None:
            return None
        raise RuleEvaluationError(f"{type(target).__name__} has no attribute {node['name']!r}")
    if kind == "index":
        target, key = _eval(node["object"], scope), _eval(node["index"], scope)
        try:
            return target[key] if target is not None else None
        except (KeyError, IndexError, TypeError):
            return None
    if kind == "negate":
        return -_number(_eval(node["operand"], scope))
    if kind == "not":
        return not _eval(node["operand"], scope)
    if kind == "logical":
        left = _eval(node["left"], scope)
        if node["op"] == "and":
            return _eval(node["right"], scope) if left else left
        return left if left else _eval(node["right"], scope)
    if kind == "binary":
        return _arithmetic(node["op"], _eval(node["left"], scope), _eval(node["right"], scope))
    if kind == "compare":
        return _compare(node["op"], _eval(node["left"], scope), _eval(node["right"], scope))
    if kind == "call":
        return _call(node["func"], [_eval(a, scope) for a in node["args"]])
    if kind == "comprehension":
        iterable = _eval(node["iterable"], scope) or []
        if not isinstance(iterable, (list, tuple)):
            raise RuleEvaluationError(f"Cannot iterate over {type(iterable).__name__}")
        values = []
        for item in iterable:
            inner = {**scope, node["var"]: item}
            if node.get("condition") is None or _eval(node["condition"], inner):
                values.append(_eval(node["element"], inner))
        return _call(node["func"], [values])
    raise RuleEvaluationError(f"Unknown node type {kind!r}")


def _number(value: Any) -> int | Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise RuleEvaluationError(f"Expected a number, got {value!r}")
    return Decimal(str(value)) if isinstance(value, float) else value


def _arithmetic(op: str, left: Any, right: Any) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    left, right = _number(left), _number(right)
    try:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return Decimal(left) / Decimal(right)
        return left % right
    except (ZeroDivisionError, InvalidOperation):
        raise RuleEvaluationError("Division by zero") from None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("in", "not in"):
        if right is None:
            found = False
        elif isinstance(right, (list, tuple, str, dict)):
            if isinstance(right, str) and not isinstance(left, str):
                raise RuleEvaluationError("'in' on text needs text on the left")
            found = left in right
        else:
            raise RuleEvaluationError(f"Cannot test membership in {type(right).__name__}")
        return found if op == "in" else not found
    if op == "==":
        return _same(left, right)
    if op == "!=":
        return not _same(left, right)
    if left is None or right is None:
        return False  # an absent value is never greater or smaller than anything
    if isinstance(left, str) != isinstance(right, str):
        raise RuleEvaluationError(f"Cannot compare {left!r} with {right!r}")
    if not isinstance(left, str):
        left, right = _number(left), _number(right)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, (int, Decimal, float)) and isinstance(right, (int, Decimal, float)) \
            and not isinstance(left, bool) and not isinstance(right, bool):
        return _number(left) == _number(right)
    return left == right


def _call(func: str, args: list[Any]) -> Any:
    def one() -> Any:
        if len(args) != 1:
            raise RuleEvaluationError(f"{func}() takes one argument")
        return args[0]

    if func in ("any", "all"):
        values = one() or []
        return (any if func == "any" else all)(bool(v) for v in values)
    if func == "count":
        values = one() or []
        return sum(1 for v in values if v) if all(isinstance(v, bool) for v in values) else len(values)
    if func == "sum":
        return sum((_number(v) for v in (one() or [])), 0)
    if func in ("min", "max"):
        values = args[0] if len(args) == 1 else args
        values = [_number(v) for v in (values or [])]
        return (min if func == "min" else max)(values) if values else None
    if func == "len":
        value = one()
        return len(value) if value is not None else 0
    if func in ("lower", "upper"):
        value = one()
        return (value.lower() if func == "lower" else value.upper()) if isinstance(value, str) else value
    if func == "abs":
        return abs(_number(one()))
    if func == "round":
        digits = int(args[1]) if len(args) > 1 else 0
        return round(_number(args[0]), digits)
    if func in ("contains", "startswith"):
        if len(args) != 2:
            raise RuleEvaluationError(f"{func}() takes two arguments")
        text, part = args
        if not isinstance(text, str) or not isinstance(part, str):
            return False
        return part in text if func == "contains" else text.startswith(part)
    if func == "number":
        value = one()
        try:
            return Decimal(str(value)) if value is not None else None
        except InvalidOperation:
            raise RuleEvaluationError(f"Not a number: {value!r}") from None
    raise RuleEvaluationError(f"Unknown function {func!r}")


# --- JSON -----------------------------------------------------------------------------

def to_json(node: Any) -> Any:
    """Decimals as strings tagged so they survive a JSON round trip."""
    if isinstance(node, dict):
        out = {k: to_json(v) for k, v in node.items()}
        if node.get("type") == "literal" and isinstance(node.get("value"), Decimal):
            out["value"] = format(node["value"], "f")
            out["valueType"] = "decimal"
        return out
    if isinstance(node, list):
        return [to_json(v) for v in node]
    return node


def from_json(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: from_json(v) for k, v in node.items() if k != "valueType"}
        if node.get("type") == "literal" and node.get("valueType") == "decimal":
            try:
                out["value"] = Decimal(str(node["value"]))
            except InvalidOperation:
                raise ValidationFailed("A decimal literal needs a numeric value", field="nodes") from None
        elif node.get("type") == "literal" and isinstance(node.get("value"), float):
            out["value"] = Decimal(str(node["value"]))
        return out
    if isinstance(node, list):
        return [from_json(v) for v in node]
    return node
