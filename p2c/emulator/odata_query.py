"""The OData query options the emulator understands: `$filter`, `$select`, `$orderby`, `$top`.

Supported in `$filter` (anything else is answered 400, never with unfiltered rows):
  * comparisons `eq ne gt ge lt le` between a property and a literal (string '..' with '' escaping, number,
    true/false, null, GUID, date/time), combined with `and`, `or`, `not` and parentheses;
  * `prop in ('a','b')` and `Microsoft.Dynamics.CRM.In(PropertyName='prop',PropertyValues=['a','b'])`;
  * `contains(prop,'x')`, `startswith(prop,'x')`, `endswith(prop,'x')`;
  * properties: columns, the primary key, lookup values `_<lookup>_value`, and one navigation step
    `<navigation>/<column>` (for example `msdyn_company/cdm_companycode eq 'USMF'`);
  * parameter aliases `@p` whose values are given in the query string (`&@p='account'`);
  * operand types as OData checks them: a GUID property (primary key, `_<lookup>_value`) compares with a bare
    GUID, never a quoted one (`accountid eq '<guid>'` is 400), and a text column never with a bare GUID
    (`Microsoft.Dynamics.CRM.In` takes its values as strings, GUIDs included).
String comparisons ignore case, as Dataverse's database collation does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from p2c.emulator.api_errors import ApiError, query_error

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
    | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w])
    | (?P<name>@?[A-Za-z_][\w.]*(?:/[A-Za-z_]\w*)?)
    | (?P<punct>[(),\[\]=])
    )""",
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
OPERATOR_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
STRING_FUNCTIONS = {"contains", "startswith", "endswith"}


class Token(NamedTuple):  # a tuple: a long `or` of ids is thousands of tokens
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Literal:
    value: Any
    kind: str = ""  # the token it was written as: string, guid, number, datetime, name (true/false/null)


@dataclass(frozen=True)
class Property:
    path: str


@dataclass(frozen=True)
class Compare:
    op: str
    left: Property
    right: Literal


@dataclass(frozen=True)
class InList:
    prop: Property
    values: tuple[Any, ...]


@dataclass(frozen=True)
class StringCall:
    function: str
    prop: Property
    text: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Compare | InList | StringCall | BoolOp | Not


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position, end = 0, len(text.rstrip())  # (a slice per token made long $filters quadratic)
    match_at = _TOKEN.match
    while position < end:
        match = match_at(text, position)
        if not match or match.end() == position:
            raise query_error(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _literal_value(token: Token) -> Any:
    if token.kind == "string":
        return token.text[1:-1].replace("''", "'")
    if token.kind == "number":
        return float(token.text) if "." in token.text else int(token.text)
    if token.kind in ("guid", "datetime"):
        return token.text
    if token.kind == "name" and token.text in ("true", "false"):
        return token.text == "true"
    if token.kind == "name" and token.text == "null":
        return None
    raise query_error(f"Syntax error: expected a literal at position {token.position}.")


class _Parser:
    def __init__(
        self,
        text: str,
        aliases: Mapping[str, str],
        check_property: Callable[[str], None],
        type_of: Callable[[str], str | None],
    ) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.aliases = aliases
        self.check_property = check_property
        self.type_of = type_of

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            where = token.position if token else len(self.text)
            raise query_error(f"Syntax error at position {where} in '{self.text}'.")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise query_error(f"Syntax error at position {self.peek().position} in '{self.text}'.")  # type: ignore[union-attr]
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while (token := self.peek()) is not None and token.text == "or":
            self.index += 1
            node = BoolOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while (token := self.peek()) is not None and token.text == "and":
            self.index += 1
            node = BoolOp("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        token = self.peek()
        if token and token.text == "not":
            self.take()
            return Not(self.parse_not())
        return self.parse_primary()

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "name" and token.text.startswith("@"):
            if token.text not in self.aliases:
                raise query_error(f"The parameter alias '{token.text}' is not defined in the query.")
            aliased = _tokenize(self.aliases[token.text])[0]
            return Literal(_literal_value(aliased), aliased.kind)
        return Literal(_literal_value(token), token.kind)

    def prop(self) -> Property:
        token = self.take()
        if token.kind != "name" or token.text in ("true", "false", "null") or token.text.startswith("@"):
            raise query_error(
                f"Syntax error: expected a property at position {token.position} in '{self.text}'."
            )
        self.check_property(token.text)
        return Property(token.text)

    def parse_primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise query_error(f"Syntax error: unexpected end of '{self.text}'.")
        if token.text == "(":
            self.take()
            node = self.parse_or()
            self.take(")")
            return node
        if token.text in STRING_FUNCTIONS:
            self.take()
            self.take("(")
            prop = self.prop()
            self.take(",")
            value = self.literal().value
            self.take(")")
            if not isinstance(value, str):
                raise query_error(f"{token.text} needs a string argument.")
            return StringCall(token.text, prop, value)
        if token.text == "Microsoft.Dynamics.CRM.In":
            return self.parse_crm_in()
        if (
            token.kind == "name"
            and self.index + 1 < len(self.tokens)
            and self.tokens[self.index + 1].text == "("
        ):
            raise query_error(f"The function '{token.text}' is not supported by this emulator's $filter.")
        prop = self.prop()
        operator = self.take()
        if operator.text == "in":
            self.take("(")
            literals = [self.literal()]
            while self.peek() and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                literals.append(self.literal())
            self.take(")")
            for literal in literals:
                self.check_operands(prop, "In", literal)
            return InList(prop, tuple(literal.value for literal in literals))
        if operator.text not in COMPARISONS:
            raise query_error(
                f"Syntax error at position {operator.position} in '{self.text}': "
                f"'{operator.text}' is not a supported operator."
            )
        right = self.literal()
        self.check_operands(prop, OPERATOR_KINDS[operator.text], right)
        return Compare(operator.text, prop, right)

    def check_operands(self, prop: Property, operator_kind: str, literal: Literal) -> None:
        """A GUID property compared with a quoted GUID (an Edm.String), or a text property with a bare GUID,
        is refused as the service's OData parser refuses it: the types are incompatible."""
        prop_type = self.type_of(prop.path)
        literal_type = {"string": "Edm.String", "guid": "Edm.Guid"}.get(literal.kind)
        if literal_type is None or prop_type not in ("Edm.Guid", "Edm.String") or prop_type == literal_type:
            return
        raise query_error(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{prop_type}' and '{literal_type}' for operator kind '{operator_kind}'."
        )

    def parse_crm_in(self) -> Node:
        self.take()
        self.take("(")
        self.take("PropertyName")
        self.take("=")
        name = self.literal().value
        self.take(",")
        self.take("PropertyValues")
        self.take("=")
        self.take("[")
        values = [self.literal().value]
        while self.peek() and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.literal().value)
        self.take("]")
        self.take(")")
        if not isinstance(name, str):
            raise query_error("PropertyName must be a string.")
        self.check_property(name)
        return InList(Property(name), tuple(values))


def parse_filter(
    text: str,
    aliases: Mapping[str, str],
    check_property: Callable[[str], None],
    type_of: Callable[[str], str | None] = lambda _path: None,
) -> Node:
    """The filter's tree; `type_of` names a property's Edm type (`Edm.Guid`, `Edm.String`) where known, so
    that a comparison of incompatible types is refused (a quoted GUID: `accountid eq '<guid>'`)."""
    return _Parser(text, aliases, check_property, type_of).parse()


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, bool):
        return value
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("eq", "ne"):
        if isinstance(left, int | float) and isinstance(right, str):
            try:
                right = float(right)
            except ValueError:
                return op == "ne"
        equal = _norm(left) == _norm(right) or (
            isinstance(left, int | float) and isinstance(right, int | float) and float(left) == float(right)
        )
        return equal if op == "eq" else not equal
    if left is None or right is None:
        return False
    left, right = _norm(left), _norm(right)
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        raise ApiError(400, "0x0", f"The operator '{op}' cannot compare these types.") from None


def evaluate(node: Node, value_of: Callable[[str], Any]) -> bool:
    if isinstance(node, BoolOp):
        if node.op == "and":
            return evaluate(node.left, value_of) and evaluate(node.right, value_of)
        return evaluate(node.left, value_of) or evaluate(node.right, value_of)
    if isinstance(node, Not):
        return not evaluate(node.operand, value_of)
    if isinstance(node, Compare):
        return _compare(node.op, value_of(node.left.path), node.right.value)
    if isinstance(node, InList):
        left = value_of(node.prop.path)
        return any(_compare("eq", left, v) for v in node.values)
    value = value_of(node.prop.path)
    if not isinstance(value, str):
        return False
    haystack, needle = value.casefold(), node.text.casefold()
    if node.function == "contains":
        return needle in haystack
    if node.function == "startswith":
        return haystack.startswith(needle)
    return haystack.endswith(needle)


def required_values(node: Node) -> dict[str, frozenset[str]]:
    """Per property, the string values one of which a record must hold for `node` to match it: a necessary
    condition, never a sufficient one (the filter is still evaluated on what it lets through). It is what the
    service's index on that column looks up: `a eq 'x' or a eq 'y'` needs a in {x, y}; an `and` needs what
    either side needs; an `or` only what both sides need. Only `eq`/`in` with string (or GUID) literals
    count; every value is casefolded, as comparisons are."""
    if isinstance(node, Compare):
        value = node.right.value
        if node.op == "eq" and isinstance(value, str) and not isinstance(value, bool):
            return {node.left.path: frozenset({value.casefold()})}
        return {}
    if isinstance(node, InList):
        if node.values and all(isinstance(v, str) for v in node.values):
            return {node.prop.path: frozenset(str(v).casefold() for v in node.values)}
        return {}
    if isinstance(node, BoolOp):
        left, right = required_values(node.left), required_values(node.right)
        if node.op == "and":
            both = {**left, **right}
            for path in left.keys() & right.keys():
                both[path] = left[path] & right[path]
            return both
        return {path: left[path] | right[path] for path in left.keys() & right.keys()}
    return {}


def parse_select(text: str | None, check_property: Callable[[str], None]) -> list[str] | None:
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        check_property(name)
    return names


def parse_orderby(text: str | None, check_property: Callable[[str], None]) -> list[tuple[str, bool]]:
    """[(property, descending)]"""
    if not text:
        return []
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise query_error(f"Syntax error in $orderby '{text}'.")
        check_property(words[0])
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise query_error(f"Invalid value '{text}' for $top query option found.")
    return int(text)


def _split_top_level(text: str, separator: str) -> list[str]:
    parts, current, depth = [], "", 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise query_error(f"Syntax error: unbalanced parentheses in '{text}'.")
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str | None) -> list[tuple[str, dict[str, str]]]:
    """`Keys($select=KeyAttributes),Attributes` -> [(navigation, {nested option: value})]; the nested options
    are separated by `;` as OData writes them."""
    if not text:
        return []
    expanded: list[tuple[str, dict[str, str]]] = []
    for item in _split_top_level(text, ","):
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise query_error(f"Syntax error in $expand '{text}'.")
            for option in _split_top_level(rest[:-1], ";"):
                key, equals, value = option.partition("=")
                if not equals:
                    raise query_error(f"Syntax error in $expand '{text}'.")
                options[key.strip()] = value.strip()
        expanded.append((name.strip(), options))
    return expanded


def primary_key_ids(node: Node, primary_key: str) -> list[str] | None:
    """The ids of `<primary key> eq <id> [or ...]` (or `in (...)`); None for any other filter."""
    if isinstance(node, Compare) and node.op == "eq" and node.left.path == primary_key:
        return [str(node.right.value).lower()]
    if isinstance(node, InList) and node.prop.path == primary_key:
        return [str(value).lower() for value in node.values]
    if isinstance(node, BoolOp) and node.op == "or":
        left = primary_key_ids(node.left, primary_key)
        right = primary_key_ids(node.right, primary_key) if left is not None else None
        return None if left is None or right is None else left + right
    return None


def sort_key(value: Any) -> Any:
    """How `$orderby` orders values of one property: numbers and booleans, then text (ignoring case)."""
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (2, "")


def filter_and_select(
    name: str, rows: list[dict[str, Any]], options: Mapping[str, str], keep: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Rows held in memory (metadata) after `$filter` and `$select` (the `keep` properties stay, as
    MetadataId does); `name` is the collection an unknown property is reported on."""
    known = {key for row in rows for key in row}

    def check(prop: str) -> None:
        # an empty collection (a table without keys) has no row to name its properties: none is refused
        if rows and prop not in known:
            raise ApiError(400, "0x0", f"Could not find a property named '{prop}' on {name}.")

    if options.get("$filter"):
        aliases = {k: v for k, v in options.items() if k.startswith("@")}
        node = parse_filter(options["$filter"], aliases, check)
        rows = [row for row in rows if evaluate(node, row.get)]
    select = parse_select(options.get("$select"), check)
    if select:
        rows = [{k: v for k, v in row.items() if k in select or k in keep} for row in rows]
    return rows
