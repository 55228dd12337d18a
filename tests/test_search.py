"""Search folds Japanese input the way buyers type it (issue 17's normalisation table)."""

from __future__ import annotations

import pytest

from portal.orders.search import Query, fold

PRODUCTS = ["LINEスタンプ制作", "写真レタッチ(1枚)", "しずくのポストカード", "写真集 A4"]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        # Full-width Latin letters, as typed with the IME on.
        ("ＬＩＮＥ", "LINEスタンプ制作"),
        ("line", "LINEスタンプ制作"),
        # Full-width brackets and digits.
        ("写真レタッチ（1枚）", "写真レタッチ(1枚)"),
        ("（１枚）", "写真レタッチ(1枚)"),
        # Katakana finds hiragana and back, half-width katakana too.
        ("シズク", "しずくのポストカード"),
        ("ｼｽﾞｸ", "しずくのポストカード"),
        ("ぽすとかーど", "しずくのポストカード"),
        # Several words, each required, separated by an ASCII or an ideographic space.
        ("写真 A4", "写真集 A4"),
        ("写真\u3000ａ４", "写真集 A4"),
    ],
)
def test_japanese_input_finds_the_product(typed, found):
    query = Query.parse(typed)
    assert [p for p in PRODUCTS if query.matches([p], [])] == [found]


def test_every_word_must_be_found():
    assert not Query.parse("写真 LINE").matches(["写真集 A4"], [])


@pytest.mark.parametrize("typed", ["R-2001", "R2001", "r2001", "Ｒ－２００１", "R 2001", "Rー2001"])
def test_an_order_number_is_found_with_or_without_its_hyphen(typed):
    assert Query.parse(typed).matches([], ["R-2001"])


def test_a_derived_number_is_found_without_its_groups():
    assert Query.parse("482109375512").matches([], ["4821-0937-5512"])
    assert Query.parse("0937-5512").matches([], ["4821-0937-5512"])


def test_words_without_digits_are_not_matched_against_numbers_loosely():
    # "R" alone would be in every "R-…" number: words need a digit to match a number.
    assert not Query.parse("R").matches(["Photo book"], ["R-2001"])


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＬＩＮＥ", "line"),
        ("写真レタッチ（1枚）", "写真れたっち(1枚)"),
        ("シズク", "しずく"),
        ("ｼｽﾞｸ", "しずく"),
        ("ヴァイオリン", "ゔぁいおりん"),
        ("  two\u3000 words ", "two words"),
        ("Straße", "strasse"),
    ],
)
def test_the_folding_table(raw, folded):
    assert fold(raw) == folded
