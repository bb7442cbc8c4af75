"""Text for an operator's terminal: control characters from stored strings shown, never obeyed.

Model names, client ids, metadata, prompts, answers and provider error messages come from
clients or providers. Printed as they are, an `ESC [ ...` sequence would recolour, move the
cursor, clear the screen, retitle the window or (in some terminals) write to the clipboard; a
`\\r` would overwrite the start of a line; bidirectional overrides would show text in another
order than it is stored. Every text renderer (`aiexec get/wait/list`, the report's text and
Markdown, chat messages) passes such strings through `printable`, which writes each of those
characters as its escape (`\\x1b`, `\\r`, `\\x00`, `\\u202e`), as Python's `repr` does; JSON
output goes through `json_printable`, the same with JSON's `\\u001b` form.
"""

from __future__ import annotations

import re

# Besides C0 controls (0x00-0x1f): DEL and C1 controls (0x9b is a one-byte CSI for terminals that
# honour C1), the Unicode line and paragraph separators, and the bidirectional marks, embeddings,
# overrides and isolates ("Trojan Source", CVE-2021-42574). Zero-width joiners and the like stay:
# emoji need them and they move nothing.
_BEYOND_C0 = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(rf"[\x00-\x1f{_BEYOND_C0}]")
_UNSAFE_BUT_LINES = re.compile(rf"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")  # keeps \t and \n
_BEYOND_JSON = re.compile(rf"[{_BEYOND_C0}]")  # json.dumps escapes C0 itself
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, *, lines: bool = False) -> str:
    """`text` (its str()) with every control character escaped; `lines=True` keeps newlines
    and tabs (a multi-line answer) and escapes everything else all the same."""
    value = text if isinstance(text, str) else str(text)
    return (_UNSAFE_BUT_LINES if lines else _UNSAFE).sub(_escape, value)


def json_printable(dumped: str) -> str:
    """A JSON document as `json.dumps(..., ensure_ascii=False)` wrote it (C0 controls already
    escaped), with the characters JSON leaves raw (DEL, C1, separators, bidirectional controls)
    as `\\uXXXX` escapes too: the same JSON value, safe on a terminal."""
    return _BEYOND_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
