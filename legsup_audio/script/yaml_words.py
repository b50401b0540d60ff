"""Plain words for YAML mistakes: PyYAML's scanner and parser errors as a teacher reads them.

Owns turning a ``MarkedYAMLError`` (its context, problem and marks) and the script's
text into one position and one message that says what is wrong in everyday words and
how to fix it: a tab, a list item or key out of line with the ones above it, a missing
space after a colon, a colon inside a value, an unclosed quote or bracket, text that
starts with a character YAML reserves.  The position is where the fix goes (the
opening quote of an unclosed text, the line with the missing space), not always where
PyYAML stopped.  It reads only the text it is given and never raises: what it does not
recognise keeps PyYAML's own words, with a hint.  ``reading.load_yaml`` calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

#: The hint every indentation message ends with.
INDENT_HINT = "check the indentation of this line against the ones above it"
_NO_SPACE_COLON = re.compile(r"(?<!\S)(?P<key>[A-Za-z_][\w-]*):(?P<value>[^\s:/][^\s]*)")
_KEY = re.compile(r"(?P<key>[^\s#'\"\[\]{},:-][^#:]*?):(\s|$)")


@dataclass(frozen=True, slots=True)
class Plain:
    """A YAML error in plain words, at the 1-based line and column where the fix goes."""

    line: int
    col: int
    message: str


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of the script as the messages describe it."""

    number: int  # 1-based
    text: str

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip(" "))

    @property
    def content(self) -> bool:
        stripped = self.text.strip()
        return bool(stripped) and not stripped.startswith("#")

    def dash(self) -> int | None:
        """The 1-based column of this line's list-item '-', if it starts with one."""
        rest = self.text[self.indent:]
        return self.indent + 1 if rest == "-" or rest.startswith("- ") else None

    def key(self) -> tuple[str, int, str] | None:
        """This line's key, its 1-based column and what follows its colon, if it holds one."""
        start = self.indent
        while self.text[start:].startswith("- "):  # `- - key:` and `- key:`
            start += 2
            start += len(self.text[start:]) - len(self.text[start:].lstrip(" "))
        match = _KEY.match(self.text, start)
        if match is None:
            return None
        return match.group("key").strip(), start + 1, self.text[match.end():].strip()


def plain_words(exc: yaml.MarkedYAMLError, text: str) -> Plain:
    """``exc`` in plain words; PyYAML's own words (with a hint) when the mistake is not recognised."""
    lines = text.split("\n")
    try:
        found = _explain(exc, lines)
    except Exception:  # noqa: BLE001 - a message must never turn into a crash; PyYAML's words remain
        found = None
    return found if found is not None else _fallback(exc)


def run_on_item(event: yaml.ScalarEvent, lines: list[str]) -> Plain | None:
    """A plain text that runs on over a line starting with '- ': legal YAML, but a list item out of line.

    ``- a`` followed by ``  - b`` indented further is one text, "a - b", to YAML: said
    aloud, never reported.  So is ``-a`` (no space after the dash) with the items below it."""
    if event.style or event.end_mark.line <= event.start_mark.line:  # libyaml gives plain text style "", PyYAML None
        return None
    first = _Line(event.start_mark.line + 1, lines[event.start_mark.line])
    if event.start_mark.column == first.indent and (fix := _no_space_dash(first)) is not None:
        return fix
    for n in range(event.start_mark.line + 2, event.end_mark.line + 2):
        row = _Line(n, lines[n - 1] if n <= len(lines) else "")
        if row.content and row.dash() is not None:
            shown = " ".join(event.value.split())
            shown = shown if len(shown) <= 50 else shown[:47] + "..."
            return Plain(n, row.indent + 1, f"this '- ' is read as more of the text begun on line {first.number} "
                                            f"('{shown}'), not as a list item, because it is not lined up with a "
                                            f"list; {_columns(lines, n, 'dash')}")
    return None


def _mark(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _fallback(exc: yaml.MarkedYAMLError) -> Plain:
    line, col = _mark(exc.problem_mark or exc.context_mark)
    words = exc.problem or "this is not valid YAML"
    if exc.context and words.startswith("but "):  # "expected X, but found Y" reads as one
        words = f"{exc.context}, {words}"
    return Plain(line, col, f"YAML cannot read the script here ({words}); {INDENT_HINT}, and put text that "
                            "holds ': ', ' #', quotes or brackets in quotes")


def _explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> Plain | None:
    problem, context = exc.problem or "", exc.context or ""
    line, col = _mark(exc.problem_mark)
    at = _Line(line, lines[line - 1] if line <= len(lines) else "")
    if "'\\t'" in problem:
        return _tab(at, col)
    if "that cannot start any token" in problem:
        char = problem.split("'")[1] if "'" in problem else "?"
        return _reserved(at, col, char)
    if context in ("while scanning an alias", "while scanning an anchor"):
        start = _mark(exc.context_mark)
        return _reserved(_Line(start[0], lines[start[0] - 1]), start[1], "*" if "alias" in context else "&")
    if context == "while scanning a block scalar":
        start = _mark(exc.context_mark)
        row = _Line(start[0], lines[start[0] - 1])
        return _reserved(row, start[1], row.text[start[1] - 1] if start[1] <= len(row.text) else "|")
    if context.startswith(("while scanning a directive", "while scanning a tag", "while parsing a tag")) or (
            "document start" in problem):
        start = _mark(exc.context_mark or exc.problem_mark)
        row = _Line(start[0], lines[start[0] - 1] if start[0] <= len(lines) else "")
        first = row.text.strip()[:1] or "%"
        if first in "%!":
            return _reserved(row, row.indent + 1, first)
        return Plain(line, col, "there is more here after the end of the script ('...' or '---' ends a YAML "
                                "document); remove the marker line, or the text after it")
    if "quoted scalar" in context:
        return _quote(exc, lines, problem)
    if problem == "mapping values are not allowed here":
        return _colon(at, col, lines)
    if problem == "could not find expected ':'":
        return _no_colon(exc, lines)
    if problem == "sequence entries are not allowed here":
        return Plain(line, col, "a list item ('- ') cannot start on the same line as its key: put it on the next "
                                "line, indented further than the key")
    if context == "while parsing a flow node":
        return Plain(line, col, "two commas in a row (or a comma with nothing before it) inside brackets; "
                                "remove the extra comma")
    if context.startswith("while parsing a flow"):
        return _flow(exc, lines, problem)
    if problem.startswith("expected <block end>, but found"):
        return _block_end(exc, at, col, lines, problem)
    if problem.startswith("expected the node content, but found"):
        char = problem.rsplit("'", 2)[-2] if problem.count("'") >= 2 else "?"
        return Plain(line, col, f"'{char}' cannot stand here on its own; if it is part of the text, put the "
                                f"whole text in quotes")
    if context == "expected a single document in the stream":
        return Plain(line, col, "a second document starts here ('---'): a cue script is a single document; "
                                "remove the '---' line (or put the second script in a file of its own)")
    return None


def _tab(at: _Line, col: int) -> Plain:
    if not at.text[: col - 1].strip(" \t"):
        return Plain(at.number, col, "this line is indented with a tab: YAML allows only spaces for "
                                     "indentation; replace the tab with spaces, lined up with the lines above "
                                     "(an editor's 'convert tabs to spaces' does it)")
    return Plain(at.number, col, "there is a tab character here: YAML allows tabs only inside quoted text; "
                                 "replace it with a space")


def _reserved(at: _Line, col: int, char: str) -> Plain:
    start = col - 1
    while start > 0 and at.text[start - 1] not in " \t[{,":  # back to where the value starts
        start -= 1
    value = at.text[start:].strip()
    quote = "'" if '"' in value and "'" not in value else '"'
    shown = f"{quote}{value}{quote}" if value else f'"{char}..."'
    return Plain(at.number, start + 1, f"text that starts with '{char}' must be in quotes (YAML reserves "
                                       f"'{char}' at the start of a value): write {shown}")


def _quote(exc: yaml.MarkedYAMLError, lines: list[str], problem: str) -> Plain | None:
    line, col = _mark(exc.context_mark)
    quote = lines[line - 1][col - 1] if col <= len(lines[line - 1]) else '"'
    if "escape" in problem:
        at, where = _mark(exc.problem_mark)
        return Plain(at, where, "inside double quotes a backslash starts a special character (\\n, \\t, "
                                "\\u00e9); write \\\\ for a backslash, or put the text in single quotes instead")
    if "document separator" in problem or "end of stream" in problem:
        return Plain(line, col, f"this quote ({quote}) is never closed: end the text with another {quote} on "
                                f"the same line" + (", and write an apostrophe inside single quotes twice "
                                                    "(Let''s)" if quote == "'" else ""))
    return None


def _no_space_dash(row: _Line) -> Plain | None:
    rest = row.text[row.indent:]
    if len(rest) > 1 and rest[0] == "-" and rest[1] not in " -":
        return Plain(row.number, row.indent + 2, f"a list item needs a space after its '-': write "
                                                 f"'- {rest[1:].strip()}'")
    return None


def _no_space_colon(row: _Line) -> Plain | None:
    match = _NO_SPACE_COLON.search(row.text, row.indent)
    if match is None or row.text[: match.start()].count('"') % 2 or row.text[: match.start()].count("'") % 2:
        return None
    key, value = match.group("key"), match.group("value")
    return Plain(row.number, match.start("value") + 1, f"'{key}:{value}' needs a space after the colon: write "
                                                   f"'{key}: {value}' (without it, YAML reads it as text, not as "
                                                   f"a key and its value)")


def _colon(at: _Line, col: int, lines: list[str]) -> Plain:
    """``mapping values are not allowed here``: a ': ' where YAML is in the middle of a value."""
    before = at.text[: col - 1]
    own = at.key()
    if own is not None and own[1] + len(own[0]) < col - 1:  # a key earlier on this line: the colon is in its value
        key, _, value = own
        if (fix := _no_space_colon(at)) is not None and fix.col < col:
            return fix
        value = at.text[own[1] - 1 + len(key) + 1:].strip()
        quote = "'" if '"' in value else '"'
        return Plain(at.number, col, f"the value of '{key}' holds ': ', which YAML reads as the start of "
                                     f"another key; put the value in quotes: {key}: {quote}{value}{quote}")
    above = _previous(lines, at.number)
    for row in _run_above(lines, at.number):
        if (fix := _no_space_dash(row) or _no_space_colon(row)) is not None:
            return fix
    word = before.strip().lstrip("- ").strip() or "this key"
    start = at.indent + 1 + (len(before.strip()) - len(before.strip().lstrip("- ")))
    if above is None:
        return Plain(at.number, start, f"'{word}' is indented further than the keys around it; {INDENT_HINT}")
    extra = ""
    if (key := above.key()) is not None and key[2] and key[2][0] not in "|>":
        extra = (f"; if it belongs under '{key[0]}', nothing may follow '{key[0]}:' on line {above.number} "
                 f"(its value goes on the lines below it)")
    return Plain(at.number, start, f"'{word}' is indented further than line {above.number} above it, so YAML "
                                   f"reads it as more of that line's text; {_columns(lines, at.number, 'key')}"
                                   f"{extra}")


def _no_colon(exc: yaml.MarkedYAMLError, lines: list[str]) -> Plain:
    line, col = _mark(exc.context_mark)
    row = _Line(line, lines[line - 1])
    if (fix := _no_space_dash(row) or _no_space_colon(row)) is not None:
        return fix
    word = row.text.strip().lstrip("- ").strip()
    end = len(row.text.rstrip()) + 1
    if re.fullmatch(r"[\w-]+", word):
        return Plain(line, end, f"'{word}' has no colon after it: write '{word}:' (a key is written "
                                f"'key: value', or 'key:' with its list or values on the lines below)")
    return Plain(line, col, "this line stands where a key is expected ('key: value') but has no ': '; if it is "
                            f"more text for the line above, put that text in quotes on one line; {INDENT_HINT}")


def _flow(exc: yaml.MarkedYAMLError, lines: list[str], problem: str) -> Plain:
    line, col = _mark(exc.context_mark)
    opener = lines[line - 1][col - 1] if col <= len(lines[line - 1]) else "["
    closer = "]" if opener == "[" else "}"
    at, where = _mark(exc.problem_mark)
    if at > line or "<stream end>" in problem:
        return Plain(line, col, f"this '{opener}' is never closed: end it with '{closer}' on the same line "
                                f"(like [a, b]), or write the items on lines of their own starting with '- '")
    found = problem.rsplit("'", 2)[-2] if problem.count("'") >= 2 else "?"
    if found in "]}" and found != closer:
        return Plain(at, where, f"this '{opener}' on column {col} is closed with '{found}'; close it with "
                                f"'{closer}'")
    return Plain(at, where, f"inside '{opener}...{closer}' items are separated by commas; put an item that holds "
                            f"a comma, a colon, quotes or brackets in quotes")


def _block_end(exc: yaml.MarkedYAMLError, at: _Line, col: int, lines: list[str], problem: str) -> Plain:
    found = problem.split("but found ", 1)[1].strip("'")
    if found in ("-", "<block sequence start>"):
        above = _previous(lines, at.number)
        key = above.key() if above is not None else None
        if above is not None and key is not None and key[2] and not key[2].startswith("#") and col > above.indent:
            return Plain(at.number, col, f"a list item cannot go under '{key[0]}' on line {above.number}: that line "
                                         f"already has a value after its colon ('{key[2]}'); write '{key[0]}:' "
                                         f"alone on its line with the items below it, or {INDENT_HINT}")
        return Plain(at.number, col, f"this list item is not lined up with the list it belongs to; "
                                     f"{_columns(lines, at.number, 'dash')}")
    if found in ("<block mapping start>", "?"):
        word = (at.key() or (at.text.strip(), col, ""))[0]
        return Plain(at.number, col, f"'{word}' (column {col}) is not lined up with the keys it belongs with; "
                                     f"{_columns(lines, at.number, 'key')}")
    if found == "<scalar>":
        before = at.text[: col - 1].rstrip()
        last = before[-1:] or " "
        if last == "'" and col - 1 == len(before) and at.text[col - 1:col].isalpha():
            return Plain(at.number, col - 1, "an apostrophe inside single quotes ends the text: write it twice "
                                             "(Let''s) or put the text in double quotes (\"Let's\")")
        if last in "'\"":
            return Plain(at.number, col, f"the text goes on after its closing quote ({last}): put all of it inside "
                                         f"the quotes" + (", and write a quote inside it as \\\"" if last == '"'
                                                          else ""))
        if last in "]}":
            opener = "[" if last == "]" else "{"
            return Plain(at.number, col, f"text goes on after the closing '{last}': text that starts with "
                                         f"'{opener}' must be in quotes")
    if found in ("]", "}", ","):
        return Plain(at.number, col, f"this '{found}' has nothing to close or separate here: remove it, or put the "
                                     f"text it belongs to in quotes")
    if found == ":":
        return Plain(at.number, col, "a ':' with no key before it: write the key's name before the colon")
    return Plain(at.number, col, f"YAML cannot read this line here; {INDENT_HINT}")


# --- the lines above a mistake ---------------------------------------------------------------


def _previous(lines: list[str], number: int) -> _Line | None:
    for n in range(number - 1, 0, -1):
        row = _Line(n, lines[n - 1])
        if row.content:
            return row
    return None


def _run_above(lines: list[str], number: int) -> list[_Line]:
    """The content lines above ``number`` that YAML could have read as one text with it (more indented
    than the line that opened it), nearest first."""
    rows: list[_Line] = []
    for n in range(number - 1, 0, -1):
        row = _Line(n, lines[n - 1])
        if not row.content:
            continue
        rows.append(row)
        if row.key() is not None or row.dash() is not None:
            break
    return rows


def _outline(lines: list[str], number: int) -> list[_Line]:
    """The lines that open the blocks around line ``number``: each less indented than the one after it."""
    chain: list[_Line] = []
    limit: int | None = None
    for n in range(number - 1, 0, -1):
        row = _Line(n, lines[n - 1])
        if not row.content or (limit is not None and row.indent >= limit):
            continue
        chain.append(row)
        limit = row.indent
        if limit == 0:
            break
    return chain


def _columns(lines: list[str], number: int, kind: str) -> str:
    """Where the keys (or list items) around line ``number`` start, nearest first: where to move it."""
    seen: dict[int, str] = {}
    for row in _outline(lines, number):
        if kind == "dash":
            if (col := row.dash()) is not None and col not in seen:
                seen[col] = f"line {row.number}"
        elif (key := row.key()) is not None and key[1] not in seen:
            seen[key[1]] = f"'{key[0]}', line {row.number}"
    if not seen:
        if kind == "dash":
            return ("no list is open above it: a list goes under a key that ends its line (like 'cues:'), its "
                    "items indented further than that key")
        return INDENT_HINT
    what = "list items" if kind == "dash" else "keys"
    places = " or ".join(f"column {col} ({where})" for col, where in list(seen.items())[:2])
    return f"the {what} above it start at {places}: move it to the column of the ones it belongs with"
