r"""Server blocklists: words, phrases and guarded regular expressions, matched after folding.

A prompt is folded before it is matched, so trivial tricks don't slip through:

- NFKC (fullwidth ｃａｔ, 𝐜𝐚𝐭 and ⓒⓐⓣ become cat), zero-width and other format characters
  removed (c\u200dat), case folded, accents stripped (càt), look-alike letters folded (Cyrillic
  с and а, Greek α, small capitals, regional-indicator letters);
- for word and phrase rules also leetspeak: digits (c4t, k1ll) and symbols inside a word
  (c@t, $hit, k!ll), with i, l, 1, ! and | read as one letter on both sides (so k1ll and 1ove
  both match);
- separators: spelled-out letters are joined (c.a.t, c a t, c-a-t), punctuation inside a word
  is dropped (ca.t), and a run of single letters is searched for a rule inside it (a c a t).

A word or phrase rule matches whole words (``cat`` does not match ``concatenate``). A rule
with the ``re:`` prefix is a Python regular expression searched in the folded text (lowercase,
words separated by single spaces, spelled-out letters joined; digits and symbols as typed).

Regular expressions are guarded against catastrophic backtracking in two layers. Here, purely:
the pattern must compile, be short, use no backreferences and no variable repetition nested
in repetition (``(a+)+``, ``(\w+\s?)*``, ``(.*a){20}``): the shapes that backtrack
exponentially or with a high power. Python's ``re`` cannot
be interrupted (it holds the GIL until it returns), so the second layer runs where a process
can be killed: the moderation service searches ``probe_texts`` in a subprocess under a time
budget before a pattern is stored, which catches what the shapes miss (``(a|aa)*c``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

try:  # Python ≥ 3.11 names it _parser; the parsed form is the same.
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as _sre_parse  # type: ignore[no-redef]

from bot.domain.errors import ValidationError
from bot.domain.text import normalise_text

REGEX_PREFIX = "re:"
RULE_MAX_CHARS = 200
# A run of single letters longer than this is not searched for rules inside it (a pathological
# prompt of 1000 spaced letters would otherwise cost a lookup per substring).
_RUN_MAX = 64

# -- folding --------------------------------------------------------------------------------

_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ь": "b", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k",
    "μ": "u", "ν": "v", "ο": "o", "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "χ": "x",
    "ω": "w",
    # Latin look-alikes that NFKC keeps
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ɪ": "i", "ʟ": "l", "ᴀ": "a", "ʙ": "b", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ғ": "f", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ɴ": "n",
    "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y",
    "ᴢ": "z", "ø": "o", "ð": "d", "þ": "p", "ß": "ss", "æ": "ae", "œ": "oe", "ł": "l",
    # Regional-indicator letters (🇨🇦🇹 drawn as letters)
    **{chr(0x1F1E6 + i): chr(ord("a") + i) for i in range(26)},
})
# Word rules compare a skeleton: leet digits read as letters, and i/l/1 as one letter.
_DIGITS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                         "8": "b", "9": "g", "l": "i"})
_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l"}
# A symbol is a letter only inside or at the start of a word ("c@t", "$hit"); "cat!" keeps
# its "!" as punctuation.
_SYMBOL_IN_WORD = re.compile(r"[@$!|+€£](?=[^\W_])")
_TOKEN = re.compile(r"[^\W_]+")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def fold(text: str) -> str:
    """Case, NFKC, invisible characters, accents and look-alike letters folded (digits kept).

    Invisible and control characters go exactly as the request path's ``normalise_text``
    drops them (so a rule and the prompt it is matched against fold alike).
    """
    if text.isascii() and text.isprintable():
        return text.lower()  # the common case: nothing below changes it but its case
    text = normalise_text(text).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_LOOKALIKES)


# A run of two or more one-letter words in space-separated words ("a c a t" in "x a c a t y").
_SINGLES = re.compile(r"(?<!\S)\S(?!\S)(?: \S(?!\S))+")


# ASCII fast paths (str.translate runs in C): every other character splits words, or only
# punctuation is dropped.
_ASCII_SPLIT = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})
_ASCII_DROP = str.maketrans({c: None for c in map(chr, range(128))
                             if not c.isalnum() and not c.isspace()})


def _words(text: str) -> str:
    """The words (letters and digits) of ``text``, separated by single spaces."""
    if text.isascii():
        return " ".join(text.translate(_ASCII_SPLIT).split())
    return " ".join(_TOKEN.findall(text))


def _unpunctuated(text: str) -> str:
    """``text`` without its punctuation (spaces kept): "c.a.t s-at" → "cat sat"."""
    return text.translate(_ASCII_DROP) if text.isascii() else _PUNCTUATION.sub("", text)


def _joined(words: str) -> str:
    """Runs of one-letter words joined: "c a t on a mat" → "cat on a mat"."""
    return _SINGLES.sub(lambda m: m[0].replace(" ", ""), words)


def _runs(words: str) -> list[str]:
    """The runs of one-letter words, joined: "x c a t" → ["xcat"]."""
    return [m[0].replace(" ", "")[:_RUN_MAX] for m in _SINGLES.finditer(words)]


def _symbolic(skeleton: str) -> str:
    return _SYMBOL_IN_WORD.sub(lambda m: _SYMBOLS[m[0]], skeleton)


def word_tokens(text: str) -> tuple[str, ...]:
    """A word rule's tokens: its skeleton with symbols read as letters and spelling joined."""
    return tuple(_joined(_words(_symbolic(fold(text).translate(_DIGITS)))).split())


@dataclass(frozen=True, slots=True)
class Folded:
    """The views of one text that rules are matched against."""

    word_views: tuple[tuple[str, ...], ...]
    runs: tuple[str, ...]
    regex_views: tuple[str, ...]


def folded_views(text: str) -> Folded:
    """Every view a rule may match in (see the module's docstring)."""
    base = fold(text)
    skeleton = base.translate(_DIGITS)
    spaced = _words(skeleton)
    # Ordered and without repeats: most prompts have no spelling, so the views coincide.
    views = dict.fromkeys((spaced, _joined(spaced), _joined(_words(_unpunctuated(skeleton)))))
    runs = _runs(spaced)
    if _SYMBOL_IN_WORD.search(skeleton):
        symbolic = _words(_symbolic(skeleton))
        views[_joined(symbolic)] = None
        runs += _runs(symbolic)
    regex_views = dict.fromkeys((_joined(_words(base)), _joined(_words(_unpunctuated(base)))))
    return Folded(tuple(tuple(view.split()) for view in views), tuple(runs),
                  tuple(regex_views))


# -- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockRule:
    """One blocklist entry: as the moderator typed it, and what it matches."""

    text: str
    tokens: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @property
    def is_regex(self) -> bool:
        """Whether this is a ``re:`` rule."""
        return self.pattern is not None

    @property
    def key(self) -> str:
        """What makes two rules the same rule ("Cat" and "c.a.t" are one)."""
        return self.text if self.is_regex else " ".join(self.tokens)


def parse_rule(text: str) -> BlockRule:
    """A rule from a moderator's text; ValidationError naming the problem.

    A regex is checked here for its shape only; ``probe_texts`` are for the timed check.
    """
    text = text.strip()
    if not text:
        raise ValidationError("rule must not be empty")
    if len(text) > RULE_MAX_CHARS:
        raise ValidationError(f"rule must be at most {RULE_MAX_CHARS} characters, "
                              f"got {len(text)}")
    if text.lower().startswith(REGEX_PREFIX):
        source = text[len(REGEX_PREFIX):].strip()
        pattern = compile_guarded(source)
        return BlockRule(f"{REGEX_PREFIX}{source}", pattern=pattern)
    tokens = word_tokens(text)
    if not tokens:
        raise ValidationError(f"rule {text!r} has no letters or digits to match")
    return BlockRule(text, tokens=tokens)


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def _opcode(name: str) -> object:
    return getattr(_sre_parse, name, None)


def _children(args: object) -> Iterator[object]:
    """Sub-patterns inside one parsed item's arguments."""
    items = args if isinstance(args, tuple | list) else (args,)
    for item in items:
        if isinstance(item, _sre_parse.SubPattern):
            yield item
        elif isinstance(item, tuple | list):
            yield from _children(item)


def _shape_problem(parsed: Iterable[tuple[object, object]], inside_repeat: bool) -> str | None:
    """Why the parsed pattern may backtrack catastrophically (None: its shape is safe)."""
    repeats = {_opcode(name) for name in _REPEATS}
    references = {_opcode("GROUPREF"), _opcode("GROUPREF_EXISTS")}
    for op, args in parsed:
        if op in references:
            return "backreferences (\\1, (?P=name)) are not allowed"
        if op in repeats:
            low: int
            high: int
            body: Iterable[tuple[object, object]]
            low, high, body = args  # type: ignore[misc]
            # A part that can match in several lengths, repeated: the engine may try every way
            # of splitting a long run between the repetitions.
            if inside_repeat and low != high and high > 1:
                return ("a repetition inside a repetition (like (a+)+ or (.*a){20}) can take "
                        "forever on some prompts; write it with one repetition")
            problem = _shape_problem(body, inside_repeat or high > 1)
            if problem:
                return problem
            continue
        for child in _children(args):
            problem = _shape_problem(child, inside_repeat)  # type: ignore[arg-type]
            if problem:
                return problem
    return None


def compile_guarded(source: str) -> re.Pattern[str]:
    """Compile a blocklist regex whose shape cannot backtrack catastrophically."""
    if not source:
        raise ValidationError("a re: rule needs a pattern after re:")
    try:
        pattern = re.compile(source)
        parsed = _sre_parse.parse(source)
    except (re.error, RecursionError, OverflowError) as error:
        raise ValidationError(f"rule re:{source} is not a valid regular expression: "
                              f"{error}") from None
    problem = _shape_problem(parsed, False)
    if problem:
        raise ValidationError(f"rule re:{source} was refused: {problem}")
    if pattern.search("") is not None:
        raise ValidationError(f"rule re:{source} matches an empty prompt, so it would refuse "
                              "everything")
    return pattern


def _literals(parsed: Iterable[tuple[object, object]]) -> Iterator[str]:
    """Characters a pattern names (literals, set members, class samples)."""
    categories = {"CATEGORY_DIGIT": "1", "CATEGORY_SPACE": " ", "CATEGORY_WORD": "a",
                  "CATEGORY_NOT_DIGIT": "a", "CATEGORY_NOT_SPACE": "a",
                  "CATEGORY_NOT_WORD": " "}
    for op, args in parsed:
        if op is _opcode("LITERAL") and isinstance(args, int):
            yield chr(args)
        elif op is _opcode("RANGE") and isinstance(args, tuple):
            yield chr(args[0])
            yield chr(args[1])
        elif op is _opcode("CATEGORY"):
            yield categories.get(str(args), "a")
        elif op is _opcode("ANY"):
            yield "a"
        elif op is _opcode("IN") and isinstance(args, list):
            yield from _literals(args)
        for child in _children(args):
            yield from _literals(child)  # type: ignore[arg-type]


def probe_texts(source: str, length: int) -> list[str]:
    """Adversarial texts of about ``length`` characters for timing a pattern: long runs of the
    characters it names (alone, in pairs, all cycled), each ended by a character that
    spoils a match, which is what makes a backtracking engine try every split."""
    chars = sorted(set(_literals(_sre_parse.parse(source)))) or ["a"]
    chars = chars[:24]
    spoiler = next(c for c in "!#~\x00%" if c not in chars)
    bodies = [c * length for c in chars]
    bodies += [(a + b) * (length // 2) for a in chars[:8] for b in chars[:8] if a < b]
    cycle = "".join(chars)
    bodies.append((cycle * (length // len(cycle) + 1))[:length])
    bodies += ["a" * length, " ".join(["a"] * (length // 2)), "ab " * (length // 3)]
    return [body + spoiler for body in dict.fromkeys(bodies)]


# -- a compiled list ------------------------------------------------------------------------


def _alternation(regexes: Sequence[BlockRule]) -> re.Pattern[str] | None:
    """One pattern that matches where any of ``regexes`` does (None: fewer than two, or they
    cannot be combined, e.g. two define the same group name or one sets a global flag)."""
    if len(regexes) < 2:
        return None
    try:
        return re.compile("|".join(f"(?:{rule.pattern.pattern})" for rule in regexes
                                   if rule.pattern is not None))
    except re.error:
        return None


@dataclass(frozen=True, slots=True)
class Blocklist:
    """Rules indexed for matching: a dict lookup per word, one search per regex view."""

    rules: tuple[BlockRule, ...] = ()
    _by_first: dict[str, tuple[BlockRule, ...]] = field(default_factory=dict, compare=False)
    _spelled: dict[str, BlockRule] = field(default_factory=dict, compare=False)
    _lengths: tuple[int, ...] = field(default=(), compare=False)
    _regexes: tuple[BlockRule, ...] = field(default=(), compare=False)
    # Every regex in one alternation: one search per view finds whether any matches (the
    # rules are then tried one by one only to name the one that did).
    _any_regex: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, rules: Sequence[BlockRule]) -> Blocklist:
        """Index ``rules`` (the first of two rules with the same key wins)."""
        unique = tuple({rule.key: rule for rule in reversed(rules)}.values())[::-1]
        by_first: dict[str, list[BlockRule]] = {}
        spelled: dict[str, BlockRule] = {}
        for rule in unique:
            if rule.is_regex:
                continue
            by_first.setdefault(rule.tokens[0], []).append(rule)
            spelled.setdefault("".join(rule.tokens), rule)
        regexes = tuple(rule for rule in unique if rule.is_regex)
        return cls(unique, {k: tuple(v) for k, v in by_first.items()}, spelled,
                   tuple(sorted({len(k) for k in spelled})), regexes, _alternation(regexes))

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, text: str) -> BlockRule | None:
        """The first rule that matches ``text``, or None."""
        if not self.rules or not text:
            return None
        return self.match_folded(folded_views(text))

    def match_folded(self, views: Folded) -> BlockRule | None:
        """The first rule that matches already folded views (fold once, match many lists)."""
        by_first = self._by_first
        for view in views.word_views:
            for i, token in enumerate(view):
                for rule in by_first.get(token, ()):
                    n = len(rule.tokens)
                    if n == 1 or view[i:i + n] == rule.tokens:
                        return rule
        spelled = self._spelled
        for run in views.runs:
            for size in self._lengths:
                for start in range(len(run) - size + 1):
                    found = spelled.get(run[start:start + size])
                    if found is not None:
                        return found
        if self._any_regex is not None and not any(
                self._any_regex.search(view) for view in views.regex_views):
            return None
        for rule in self._regexes:
            assert rule.pattern is not None
            if any(rule.pattern.search(view) for view in views.regex_views):
                return rule
        return None
