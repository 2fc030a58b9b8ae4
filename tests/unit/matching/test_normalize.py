"""Identifier normalizers (SPEC M6): table tests and properties over hostile input (X1)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import idna
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from syncengine.config import MATCH_KINDS
from syncengine.matching import (
    NORMALIZERS,
    is_valid_email,
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_exact,
    normalize_phone,
    normalize_text,
)

Normalizer = Callable[[object], "str | None"]

# An int too long for str() (Python's 4,300-digit limit), wrapped so pytest can name it.
HUGE_INT = pytest.param(10**5000, id="huge-int")
# Values no identifier can be, whatever its kind.
NOT_IDENTIFIERS = [None, True, False, 3.5, float("nan"), [], ["a@b.de"], {"a": 1}, b"x", object()]


def _stable_id(value: object) -> str:
    """A test id that is the same in every process (no memory addresses, for xdist)."""
    text = repr(value)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


class TestNormalizers:
    """The registry of normalizers."""

    def test_every_match_kind_has_a_normalizer(self) -> None:
        """NORMALIZERS has exactly one entry per MATCH_KINDS kind (M6)."""
        assert set(MATCH_KINDS) == set(NORMALIZERS)

    @pytest.mark.parametrize("kind", sorted(MATCH_KINDS))
    @pytest.mark.parametrize("value", NOT_IDENTIFIERS, ids=_stable_id)
    def test_values_of_the_wrong_type_are_no_identifier(self, kind: str, value: object) -> None:
        """None, bools, floats, containers and objects never normalize to an identifier."""
        assert None is NORMALIZERS[kind](value)


class TestNormalizeEmail:
    """normalize_email: trimmed, case-folded, pragmatically validated (M4, M6)."""

    @pytest.mark.parametrize(
        ("one", "other"),
        [
            ("jörg@bücher.de", "jörg@xn--bcher-kva.de"),
            ("Jörg@BÜCHER.de", "JÖRG@XN--BCHER-KVA.DE"),
            ("ａｂ@example.com", "ab@example.com"),
            ("ＡＢ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ab@example.com"),
            ("ab@ｅｘａｍｐｌｅ.com", "AB@example.com"),
            ("ﬁ@example.com", "fi@example.com"),
            ("jörg@bücher.de", "jo\u0308rg@bu\u0308cher.de"),
            # IDNA's label separators: ideographic, full-width, half-width full stops.
            ("ab@example\u3002com", "ab@example.com"),
            ("ab@bücher\uff61de", "ab@xn--bcher-kva.de"),
            ("ab@example\uff0ecom", "ab@example.com"),
        ],
    )
    def test_unicode_forms_of_one_address_are_one_identifier(self, one: str, other: str) -> None:
        """IDNA for the domain, NFKC and case-folding for the local part (issue 17, M6)."""
        normalized = normalize_email(one)
        assert normalized is not None
        assert normalized == normalize_email(other)
        assert normalized.split("@")[1].isascii()

    @pytest.mark.parametrize("value", ["x\ud800@example.com", "ab@exa\udcffmple.com"])
    def test_text_with_a_lone_surrogate_is_no_address(self, value: str) -> None:
        assert normalize_email(value) is None

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("john@example.com", "john@example.com"),
            ("  John.Doe@Example.COM \n", "john.doe@example.com"),
            ("JOHN+tag@sub.example.co.uk", "john+tag@sub.example.co.uk"),
            ("Straße@example.de", "strasse@example.de"),
            ("ÅSE@bücher.de", "åse@xn--bcher-kva.de"),  # the domain in IDNA (issue 17)
            ("a@b-c.de", "a@b-c.de"),
            ("o'brien@example.ie", "o'brien@example.ie"),
        ],
    )
    def test_valid_addresses_are_trimmed_and_case_folded(self, value: str, expected: str) -> None:
        """Valid addresses lose surrounding space and case, and stay otherwise unchanged (M6)."""
        assert expected == normalize_email(value)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "   ",
            "john",
            "john@",
            "@example.com",
            "john@example",
            "john@@example.com",
            "jo@hn@example.com",
            "jo hn@example.com",
            "john@exa mple.com",
            "john\x00@example.com",
            "john@example.com\u200b",
            "john@-example.com",
            "john@example-.com",
            "john@example..com",
            "john@.example.com",
            "john@example.com.",
            "john@exa_mple.com",
            ".john@example.com",
            "john.@example.com",
            "jo..hn@example.com",
            "John Doe <john@example.com>",
            "x" * 65 + "@example.com",
            "a@" + "b" * 64 + ".com",
            "a@" + ("b" * 60 + ".") * 5 + "com",
            "john@1.2.3.4",
            "x" * 100_000,
            12345,
        ],
        ids=lambda v: repr(v)[:40],
    )
    def test_invalid_addresses_are_no_identifier(self, value: object) -> None:
        """Malformed, oversized or control-laden addresses normalize to None (M4)."""
        assert None is normalize_email(value)
        assert not is_valid_email(value)

    def test_is_valid_email_accepts_what_normalize_email_accepts(self) -> None:
        """is_valid_email is true exactly for addresses normalize_email keeps (M4)."""
        assert is_valid_email(" Ann@Example.org ")


class TestNormalizeDomain:
    """normalize_domain: a bare ASCII domain from a domain or a URL (M6)."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("example.com", "example.com"),
            ("Example.COM", "example.com"),
            ("www.example.com", "example.com"),
            ("WWW.www.example.com", "example.com"),
            ("https://www.example.com/about?x=1#top", "example.com"),
            ("http://user:secret@example.com:8080/", "example.com"),
            ("//cdn.example.com/x.js", "cdn.example.com"),
            ("example.com:443", "example.com"),
            ("example.com.", "example.com"),
            ("  sub.example.co.uk/path  ", "sub.example.co.uk"),
            ("john@example.com", "example.com"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("https://BÜCHER.de/", "xn--bcher-kva.de"),
            ("xn--bcher-kva.de", "xn--bcher-kva.de"),
            ("example。com", "example.com"),
            ("www2.example.com", "www2.example.com"),
            ("wwwexample.com", "wwwexample.com"),
            ("www.com", "www.com"),
        ],
    )
    def test_domains_and_urls_become_bare_ascii_domains(self, value: str, expected: str) -> None:
        """Scheme, user info, www, port, path, query and fragment are dropped; IDNA applied."""
        assert expected == normalize_domain(value)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "  ",
            "localhost",
            "http://localhost:8000/",
            "192.168.0.1",
            "exa mple.com",
            "exa_mple.com",
            "-example.com",
            "example-.com",
            "example..com",
            ".com",
            "example.com:port",
            "x" * 64 + ".com",
            "a." * 130 + "com",
            "example\x00.com",
            "https://",
            "[::1]",
            "x" * 100_000,
            42,
        ],
        ids=lambda v: repr(v)[:40],
    )
    def test_invalid_domains_are_no_identifier(self, value: object) -> None:
        """Hosts without a dot, with bad labels, IPs and oversized text give None (M6)."""
        assert None is normalize_domain(value)


class TestNormalizeCompanyName:
    """normalize_company_name: no case, punctuation or legal suffix (M2, M6)."""

    @pytest.mark.parametrize(
        ("names", "expected"),
        [
            (["Acme, Inc.", "ACME Inc", "acme", "Acme Incorporated", "ACME, INC"], "acme"),
            (
                ["Nordisk Film A/S", "Nordisk Film", "NORDISK FILM A S", "Nordisk Film AS"],
                ("nordisk film"),
            ),
            (["Müller GmbH", "MÜLLER", "Müller & Co. KG", "Müller GmbH & Co. KG"], "müller"),
            (["Hansen ApS", "Hansen I/S", "Hansen K/S"], "hansen"),
            (["Widgets Pty Ltd", "Widgets Pty. Ltd.", "Widgets Limited"], "widgets"),
            (["Acme S.A.", "Acme SA", "Acme SARL", "Acme S.r.l.", "Acme S.p.A."], "acme"),
            (["Volvo AB", "VOLVO"], "volvo"),
            (["Nokia Oyj", "Nokia"], "nokia"),
            (["Philips N.V.", "Philips NV"], "philips"),
            (["Procter & Gamble Co.", "Procter and Gamble"], "procter and gamble"),
            (["O'Reilly Media, Inc.", "OReilly Media"], "oreilly media"),
            (["Company"], "company"),
            (["Inc."], "inc"),
            (["The  Widget   Company, LLC"], "the widget"),
            (["ＡＣＭＥ　Ｉｎｃ"], "acme"),
        ],
    )
    def test_spellings_of_one_company_normalize_alike(
        self, names: list[str], expected: str
    ) -> None:
        """Case, punctuation, '&' and trailing legal suffixes never tell companies apart (M6)."""
        assert {expected} == {normalize_company_name(name) for name in names}

    def test_a_name_that_is_only_a_suffix_is_kept(self) -> None:
        """A company called 'Company Ltd' is never reduced to nothing (M6)."""
        assert normalize_company_name("Company Ltd") == "company"

    def test_suffixes_in_the_middle_are_kept(self) -> None:
        """Only trailing legal words are dropped: 'AG Barr plc' keeps its 'ag'."""
        assert normalize_company_name("AG Barr plc") == "ag barr"

    @pytest.mark.parametrize("value", ["", "   ", "!!!", "—", "x" * 5000, 7])
    def test_names_without_letters_or_digits_are_no_identifier(self, value: object) -> None:
        """Blank, punctuation-only, oversized and non-text names give None (M5)."""
        assert None is normalize_company_name(value)


class TestNormalizePhone:
    """normalize_phone: digits with an optional leading '+' (M6)."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("+45 12 34 56 78", "+4512345678"),
            ("0045 12 34 56 78", "+4512345678"),
            ("(555) 123-4567", "5551234567"),
            ("555.123.4567 ext. 89", "5551234567"),
            ("+1 (555) 123-4567 x12", "+15551234567"),
            ("(+45) 1234 5678", "+4512345678"),
            ("１２３４５６", "123456"),
            ("٠١٢٣٤٥٦", "0123456"),
            (4512345678, "4512345678"),
            ("12345", "12345"),
        ],
    )
    def test_formatting_is_dropped(self, value: object, expected: str) -> None:
        """Spaces, dashes, dots, parentheses and extensions go; '00' becomes '+' (M6)."""
        assert expected == normalize_phone(value)

    @pytest.mark.parametrize(
        "value", ["", "1234", "+12", "phone", "n/a", "00123", -4512345678, 10**40, "1" * 200]
    )
    def test_too_few_digits_or_hostile_values_are_no_identifier(self, value: object) -> None:
        """Fewer than five digits, negative or huge ints and oversized text give None."""
        assert None is normalize_phone(value)


class TestNormalizeText:
    """normalize_text: trimmed, NFC, case-folded, whitespace collapsed (M6)."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("  Hello   World\t", "hello world"),
            ("STRASSE", "strasse"),
            ("Straße", "strasse"),
            ("Cafe\u0301", "café"),
            ("line\nbreak", "line break"),
            (42, "42"),
            (-7, "-7"),
        ],
    )
    def test_text_is_folded_and_collapsed(self, value: object, expected: str) -> None:
        """Case, unicode composition and runs of whitespace never tell values apart (M6)."""
        assert expected == normalize_text(value)

    @pytest.mark.parametrize("value", ["", " \t\n ", "x" * 70_000, HUGE_INT])
    def test_blank_or_oversized_text_is_no_identifier(self, value: object) -> None:
        """Blank text, text over 65,536 chars and ints too long to print give None."""
        assert None is normalize_text(value)


class TestNormalizeExact:
    """normalize_exact: the value itself."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (" ID-7 ", " ID-7 "),
            ("abc", "abc"),
            (17, "17"),
            ("  ", None),
            pytest.param(10**5000, None, id="huge-int"),
        ],
    )
    def test_text_is_kept_as_is(self, value: object, expected: str | None) -> None:
        """Non-blank text is not touched; ints become their decimal text."""
        assert expected == normalize_exact(value)


# --- properties -----------------------------------------------------------------------------

hostile_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
leaf_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.builds(pow, st.just(10), st.integers(4301, 5000)),  # too long for str()
    st.floats(),
    hostile_text,
    st.binary(max_size=10),
    st.dates(),
    st.datetimes(),
)
mixed_values = st.recursive(
    leaf_values,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
        | st.tuples(children, children)
    ),
    max_leaves=6,
)
# Inputs shaped like real identifiers, so that idempotence is tested on values that pass.
label = st.from_regex(r"[A-Za-z0-9ÄÖÜäöüßéø](?:[A-Za-z0-9\-äöü]{0,8}[A-Za-z0-9])?", fullmatch=True)
domains = st.builds(".".join, st.lists(label, min_size=2, max_size=4))
urls = st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["", "http://", "https://www.", "//", "HTTPS://user@"]),
    domains,
    st.sampled_from(["", ":8080", "."]),
    st.sampled_from(["", "/", "/a/b?c=d#e"]),
)
emails = st.builds(
    "{}@{}".format, st.from_regex(r"[A-Za-z0-9._+'ÄÖß]{1,20}", fullmatch=True), domains
)
names = st.builds(
    " ".join,
    st.lists(
        st.sampled_from(["Acme", "&", "A/S", "Inc.", "Co", "and", "Müller", "GmbH", "S.", "A."])
        | hostile_text,
        max_size=5,
    ),
)
phones = st.from_regex(r"\+?[0-9 ()\-.]{3,25}(?: ?(?:ext\.?|x) ?[0-9]{1,4})?", fullmatch=True)
identifier_like = st.one_of(mixed_values, hostile_text, emails, domains, urls, names, phones)


@pytest.mark.parametrize("kind", sorted(MATCH_KINDS))
@given(value=mixed_values)
def test_normalizers_never_raise_on_hostile_input(kind: str, value: object) -> None:
    """Any value, of any type or content, gives a str or None and never an exception (X1)."""
    result = NORMALIZERS[kind](value)
    assert result is None or isinstance(result, str)


@pytest.mark.parametrize("kind", sorted(MATCH_KINDS))
@given(value=identifier_like)
def test_normalizers_are_idempotent(kind: str, value: object) -> None:
    """Normalizing a normalized identifier returns it unchanged (M6)."""
    normalize = NORMALIZERS[kind]
    once = normalize(value)
    if once is not None:
        assert once == normalize(once)


@given(value=st.emails())
def test_generated_valid_emails_are_accepted(value: str) -> None:
    """Ordinary RFC addresses as Hypothesis builds them pass the pragmatic check (M4)."""
    # st.emails() may produce RFC-legal local parts we refuse on purpose (specials).
    local = value.rsplit("@", 1)[0]
    if not any(ch in '()<>[]:;,\\"' for ch in local) and ".." not in local:
        assert normalize_email(value) == value.casefold()


@given(value=domains)
def test_domains_and_their_urls_normalize_alike(value: str) -> None:
    """A domain and any URL on it normalize to the same identifier (M6)."""
    expected = normalize_domain(value)
    # (Upper case is the same domain but where it is another letter's: "ß".upper() is
    # "SS", another domain in IDNA 2008, as "ς".upper().lower() is "σ".)
    upper = value.upper() if value.upper().lower() == value.lower() else value
    for url in (f"https://{value}/x?y#z", f"http://www.{value}:80/", f"{upper}."):
        assert expected == normalize_domain(url)


@given(
    base=st.sampled_from(["Acme", "Nordisk Film", "Müller", "Blue Sky"]),
    suffix=st.sampled_from(["", " Inc.", ", Ltd", " A/S", " ApS", " GmbH & Co. KG", " LLC"]),
)
def test_legal_suffixes_never_tell_companies_apart(base: str, suffix: str) -> None:
    """A name with any legal suffix normalizes like the bare name (M6)."""
    assert normalize_company_name(base) == normalize_company_name(base + suffix)


def test_datetime_values_are_not_identifiers() -> None:
    """Dates and datetimes are not text: no normalizer turns them into an identifier."""
    for normalize in NORMALIZERS.values():
        assert None is normalize(dt.date(2024, 1, 1))


def _full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms (U+FF01…), as East Asian input gives."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


@given(
    local=st.text(st.characters(categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12),
    labels=st.lists(
        st.text(st.characters(categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12),
        min_size=1,
        max_size=2,
    ),
    tld=st.sampled_from(["de", "com", "dk", "xn--p1ai"]),
)
def test_unicode_spellings_of_one_address_match(local: str, labels: list[str], tld: str) -> None:
    """IDNA and full-width spellings of an address normalize alike (issue 17, M6)."""
    domain = ".".join([*labels, tld])
    address = f"{local}@{domain}"
    normalized = normalize_email(address)
    if normalized is None:
        return
    assert normalized.split("@")[1].isascii()
    # The reference: UTS 46 without transitional processing, then IDNA 2008, as mail
    # systems and browsers encode a domain (the stdlib codec is IDNA 2003).
    ascii_domain = _uts46(domain)
    assume(ascii_domain is not None)  # (one IDNA 2008 refuses is read as IDNA 2003 does)
    for other in (
        f"{local}@{ascii_domain}",
        f"{_full_width(local)}@{domain}",
        f"{_full_width(local)}@{_full_width(domain)}",
    ):
        assert normalized == normalize_email(other), other


@pytest.mark.parametrize("kind", sorted(MATCH_KINDS))
@given(
    before=st.text(max_size=8),
    surrogate=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    after=st.text(max_size=8),
)
def test_text_with_a_lone_surrogate_is_never_an_identifier(
    kind: str, before: str, surrogate: str, after: str
) -> None:
    """No index can store it: a key holding one stopped the pass (issue 17, X1)."""
    assert None is NORMALIZERS[kind](f"{before}{surrogate}{after}")


def _uts46(domain: str) -> str | None:
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("a@straße.de", "a@strasse.de"),  # two domains in IDNA 2008 (IDNA 2003: one)
        ("a@ςx.gr", "a@σx.gr"),
        ("a@faß.de", "a@FASS.de"),
    ],
)
def test_domains_that_idna_2008_tells_apart_are_two_addresses(one: str, other: str) -> None:
    """The stdlib's IDNA 2003 made "straße.de" "strasse.de" (and case-folding did the same
    before it): two addresses of two domains, with two owners, matched as one."""
    assert normalize_email(one) is not None
    assert normalize_email(other) is not None
    assert normalize_email(one) != normalize_email(other)
    assert normalize_domain(one.split("@")[1]) != normalize_domain(other.split("@")[1])


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("a@straße.de", "a@xn--strae-oqa.de"),
        ("A@STRAẞE.DE", "a@xn--strae-oqa.de"),
        ("a@ςx.gr", "a@xn--x-xmb.gr"),
        ("a@Σx.gr", "a@σx.gr"),
    ],
)
def test_spellings_of_an_idna_2008_domain_are_one_address(one: str, other: str) -> None:
    assert normalize_email(one) == normalize_email(other) is not None


def test_a_joiner_idna_2008_refuses_is_no_address_rather_than_another_domain() -> None:
    """IDNA 2003 dropped a zero-width joiner: "ab\u200d.de" was the address of "ab.de"."""
    assert normalize_email("a@ab\u200d.de") is None
    assert normalize_domain("ab\u200d.de") is None
    assert normalize_email("a@ab.de") == "a@ab.de"


#: Letters whose readings differ between IDNA 2003, case-folding and IDNA 2008, and
#: their look-alikes, so that generated domains collide often.
_TRICKY = "aßsSẞςσΣüUuöo\u200d\u200c"


@given(
    local=st.text("abAB", min_size=1, max_size=3),
    one=st.text(_TRICKY, min_size=1, max_size=5),
    other=st.text(_TRICKY, min_size=1, max_size=5),
)
def test_two_addresses_match_exactly_when_idna_2008_reads_one_domain(
    local: str, one: str, other: str
) -> None:
    """Two spellings of one address match; two different addresses never do. "One
    domain" is what UTS 46 (non-transitional) and IDNA 2008 make of it, as mail systems
    and browsers do; a name they refuse is no address."""
    first, second = f"{local}@{one}.de", f"{local}@{other}.de"
    want = [_uts46(f"{one}.de"), _uts46(f"{other}.de")]
    got = [normalize_email(first), normalize_email(second)]
    for address, reference, normalized in zip((first, second), want, got, strict=True):
        if reference is None:
            assert normalized is None, address
        else:
            assert normalized == f"{local.casefold()}@{reference}", address
    if None not in want:
        assert (want[0] == want[1]) == (got[0] == got[1]), (first, second)
