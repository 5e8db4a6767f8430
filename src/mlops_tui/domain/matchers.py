"""Alertmanager's matcher language: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.

The same strings filter the Alerts pane, `alerts list --filter` and the matchers of a silence; they
are sent to Alertmanager as they are, and evaluated here for alerts that come from elsewhere (local
rules, Vertex). Regular expressions are anchored at both ends, as Alertmanager anchors them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from mlops_tui.errors import InvalidQuery

__all__ = ["Matcher", "parse_matcher", "parse_matchers", "matches_all"]

Operator = Literal["=", "!=", "=~", "!~"]

# An unquoted value runs to the end, spaces inside included (`alertname=Disk full`), as Alertmanager
# reads it; the name may be empty here so that the error can say so.
_MATCHER = re.compile(
    r"""^\s*(?P<name>[^\s=!~"{},]*|"(?:[^"\\]|\\.)*")\s*(?P<op>=~|!~|!=|=)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|[^"{},]*?)\s*$""",
    re.X | re.S,
)


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Operator
    value: str

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set matches; a missing label is the empty string, as in Alertmanager."""
        value = labels.get(self.name, "")
        hit = bool(_anchored(self.value).fullmatch(value)) if self.is_regex else value == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"

    def to_api(self) -> dict[str, object]:
        """The matcher as Alertmanager's API v2 takes it in a silence."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    @classmethod
    def from_api(cls, data: Mapping[str, object]) -> Matcher:
        is_regex, is_equal = bool(data.get("isRegex")), bool(data.get("isEqual", True))
        op: Operator = ("=~" if is_equal else "!~") if is_regex else ("=" if is_equal else "!=")
        return cls(str(data.get("name", "")), op, str(data.get("value", "")))

    @classmethod
    def equal(cls, name: str, value: str) -> Matcher:
        return cls(name, "=", value)


def parse_matcher(text: str) -> Matcher:
    """One matcher.

    Raises:
        InvalidQuery: it does not parse, or its regular expression does not compile.
    """
    match = _MATCHER.match(text)
    if match is None:
        raise InvalidQuery("matcher", f'{text!r} does not parse; write name="value" (operators: = != =~ !~)')
    name, op, value = _unquote(match["name"]), match["op"], _unquote(match["value"])
    if not name:
        raise InvalidQuery("matcher", f"{text!r} has an empty label name")
    matcher = Matcher(name, op, value)  # type: ignore[arg-type]
    if matcher.is_regex:
        try:
            re.compile(value)  # positions in its error message are the user's
            _anchored(value)
        except re.error as exc:
            raise InvalidQuery("matcher", f"{text!r}: bad regular expression: {exc}") from None
    return matcher


def parse_matchers(texts: Iterable[str]) -> list[Matcher]:
    """Matchers from several strings, each one matcher or a `{a="b", c=~"d"}` list.

    Raises:
        InvalidQuery: one of them does not parse.
    """
    found: list[Matcher] = []
    for text in texts:
        stripped = text.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            found.extend(parse_matcher(part) for part in _split(stripped[1:-1]) if part.strip())
        elif stripped:
            found.extend(parse_matcher(part) for part in _split(stripped) if part.strip())
    return found


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@lru_cache(maxsize=256)
def _anchored(expression: str) -> re.Pattern[str]:
    # Used with fullmatch: anchored at both ends, as Alertmanager anchors (`^(?:...)$` in Go, where
    # `$` is the very end and `.` does not match a newline; Python's `$` would also match before a
    # final newline).
    return re.compile(f"(?:{expression})")


def _split(text: str) -> list[str]:
    """Split on commas outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


_ESCAPED = {"n": "\n", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    r"""The value of a quoted string: `\"`, `\\` and `\n` are escapes; any other backslash is
    literal, as in Alertmanager (so `=~"host\d+"` means what it says)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", lambda m: _ESCAPED.get(m[1], m[0]), text[1:-1], flags=re.S)
    return text


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
