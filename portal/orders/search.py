"""Order search that understands how Japanese is typed.

A buyer types a full-width ``LINE`` with the IME still on, ``写真レタッチ(1枚)`` with
full-width brackets, ``シズク`` for a product named ``しずく``, two words, or ``R2001`` for order
``R-2001``. Text and query are compared after the same folding: Unicode NFKC (full and
half width, brackets, half-width katakana), case folding, and katakana to hiragana. Every
word of the query must be found; a word that looks like an order number also matches the
order number without its hyphens and spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from portal.order_numbers import compact

#: Katakana ァ..ヶ sit exactly 0x60 above hiragana ぁ..ゖ.
_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
#: The iteration mark ヽヾ likewise.
_KATAKANA_TO_HIRAGANA.update({0x30FD: 0x309D, 0x30FE: 0x309E})
_HAS_DIGIT = re.compile(r"\d")


def fold(text: str) -> str:
    """``text`` as search compares it: NFKC, case-folded, katakana as hiragana, one space
    between words."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_KATAKANA_TO_HIRAGANA)
    return " ".join(folded.split())


@dataclass(frozen=True)
class Query:
    """A parsed search: the folded words, each of which must be found."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Split what the buyer typed into words (any kind of space separates them)."""
        return cls(tuple(fold(text).split()))

    def matches(self, texts: Iterable[str], numbers: Iterable[str]) -> bool:
        """Whether every word is in one of ``texts`` or is one of the order ``numbers``
        (compared without hyphens and spaces)."""
        haystack = " \n ".join(fold(text) for text in texts)
        compact_numbers = [compact(fold(number)) for number in numbers]
        # "R 2001" is one order number typed with a space, not two words.
        whole = " ".join(self.words)
        if len(self.words) > 1 and self._is_number(whole, compact_numbers):
            return True
        return all(self._found(word, haystack, compact_numbers) for word in self.words)

    @classmethod
    def _found(cls, word: str, haystack: str, numbers: list[str]) -> bool:
        return word in haystack or cls._is_number(word, numbers)

    @staticmethod
    def _is_number(word: str, numbers: list[str]) -> bool:
        """Whether ``word`` has a digit and, without separators, is part of a number."""
        if not _HAS_DIGIT.search(word):
            return False
        wanted = compact(word)
        return bool(wanted) and any(wanted in number for number in numbers)
