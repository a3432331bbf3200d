"""The message catalogues (static/i18n/*.json), without a browser: the same keys in every
language, the same placeholders, plural forms each language needs, every key the pages use
present, every API error code covered, and Korean that is Korean."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "static"
LANGS = ("en", "ko")
CATALOGUES = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGS}
# Intl.PluralRules categories each language uses for integers.
PLURAL_FORMS = {"en": {"one", "other"}, "ko": {"other"}}
# CONTRACT.md's error codes, plus the client's own: a failed fetch, a browser without Web Workers.
ERROR_CODES = ("sold_out seat_unavailable queue_required limit_exceeded reservation_expired rate_limited "
               "unavailable validation_error unauthorized forbidden not_found email_taken invalid_state "
               "idempotency_key_reused sale_not_started challenge_required payload_too_large "
               "method_not_allowed internal_error network_error workers_unavailable").split()
# Keys the pages build at run time from a value (`conn.${state}` and the like).
DYNAMIC = {
    "conn": ("connecting", "open", "reconnecting", "closed"),
    "admin.modeValue": ("off", "on", "auto"),
    "admin.modeOption": ("off", "on", "auto"),
    "seats.status": ("available", "selected", "mine", "held", "sold"),
    "errors": ERROR_CODES,
}
# Strings that are the same in both languages on purpose (no words in them).
SAME_IN_BOTH = {"common.value", "title.named", "seats.title", "seats.seatAria", "seats.seatAriaNoType"}


def placeholders(entry) -> set[str]:
    texts = entry.values() if isinstance(entry, dict) else [entry]
    return {name for text in texts for name in re.findall(r"\{(\w+)\}", text)}


def test_every_language_has_the_same_keys():
    en, ko = (set(CATALOGUES[lang]) for lang in LANGS)
    assert not en - ko, f"missing in ko.json: {sorted(en - ko)}"
    assert not ko - en, f"missing in en.json: {sorted(ko - en)}"


@pytest.mark.parametrize("lang", LANGS)
def test_messages_are_well_formed(lang):
    for key, entry in CATALOGUES[lang].items():
        assert re.fullmatch(r"[a-z]+(\.[A-Za-z0-9_]+)+", key), key
        if isinstance(entry, dict):
            assert set(entry) == PLURAL_FORMS[lang], (key, sorted(entry))
            assert all(isinstance(v, str) and v.strip() for v in entry.values()), key
        else:
            assert isinstance(entry, str) and entry.strip(), key


def test_placeholders_agree_between_languages():
    for key, en in CATALOGUES["en"].items():
        assert placeholders(en) == placeholders(CATALOGUES["ko"][key]), key
        # A plural message must be chosen by a count.
        if isinstance(en, dict) or isinstance(CATALOGUES["ko"][key], dict):
            assert "count" in placeholders(en), key


def _keys_used_by_the_pages() -> set[str]:
    namespaces = {k.split(".")[0] for k in CATALOGUES["en"]}
    used = set()
    for path in STATIC.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([^"]+)"', text))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', text):
            used |= {pair.split(":")[1].strip() for pair in attrs.split(";") if ":" in pair}
    pattern = re.compile(r"[\"']((?:" + "|".join(sorted(namespaces)) + r")\.[A-Za-z0-9_.]*[A-Za-z0-9_])[\"']")
    for path in STATIC.glob("*.js"):
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_key_the_pages_use_is_in_the_catalogues():
    used = _keys_used_by_the_pages()
    assert len(used) > 150, "the key scan found too little: is the pattern still right?"
    storage_keys = {k for k in used if k.startswith("ticketd.")}
    missing = sorted(used - storage_keys - set(CATALOGUES["en"]))
    assert not missing, f"used by the pages but in no catalogue: {missing}"


def test_keys_built_at_run_time_exist():
    for prefix, values in DYNAMIC.items():
        for value in values:
            for lang in LANGS:
                assert f"{prefix}.{value}" in CATALOGUES[lang], (lang, prefix, value)


def test_no_unused_keys():
    used = _keys_used_by_the_pages()
    dynamic = {f"{prefix}.{value}" for prefix, values in DYNAMIC.items() for value in values}
    unused = set(CATALOGUES["en"]) - used - dynamic
    assert not unused, f"keys no page uses: {sorted(unused)}"


def test_the_korean_is_korean():
    hangul = re.compile(r"[\uac00-\ud7a3]")
    for key, ko in CATALOGUES["ko"].items():
        if key in SAME_IN_BOTH:
            continue
        text = " ".join(ko.values()) if isinstance(ko, dict) else ko
        assert hangul.search(text), f"{key} has no Korean in it: {text!r}"
        assert ko != CATALOGUES["en"][key] or key in SAME_IN_BOTH, key


def test_korean_uses_the_words_korean_ticket_sites_use():
    ko = CATALOGUES["ko"]
    expected = {
        "events.getTickets": "예매하기", "queue.ahead": "내 앞 대기 인원", "queue.wait": "예상 대기시간",
        "events.soldOut": "매진", "account.signIn": "로그인", "login.tabRegister": "회원가입",
        "nav.admin": "관리자", "seats.heading": "좌석 선택",
    }
    for key, words in expected.items():
        assert ko[key] == words, (key, ko[key])
    assert "대기열" in ko["events.queueActive"]
    assert "잔여" in ko["events.left"]["other"]
    assert ko["seats.label"] == "{section}구역 {row}열 {number}번"


def _final_consonant(syllable: str) -> int:
    """The final consonant (받침) index of a Hangul syllable: 0 for none, 8 for ㄹ."""
    return (ord(syllable) - 0xAC00) % 28


def test_korean_particles_agree_with_the_words_they_follow():
    """‘{mode}’으로: every mode's name ends in a consonant other than ㄹ, so 으로, not (으)로."""
    ko = CATALOGUES["ko"]
    modes = [ko[f"admin.modeValue.{mode}"] for mode in DYNAMIC["admin.modeValue"]]
    assert all(_final_consonant(name[-1]) not in (0, 8) for name in modes), modes
    assert "’으로 " in ko["admin.modeNow"] and "(으)로" not in ko["admin.modeNow"]


def test_korean_wording_reads_naturally():
    ko = CATALOGUES["ko"]
    assert ko["event.announce.few"]["other"] == "{name} {count}매 남았습니다."     # not 잔여 … 남았습니다
    assert ko["event.announce.soldOut"] == "{name} 티켓이 매진되었습니다."
    assert ko["event.announce.back"] == "{name} 티켓을 다시 예매할 수 있습니다."
    assert ko["event.seatCount"]["other"] == "{count}석"
    assert ko["event.seatsLeft"]["other"] == "잔여석 {count}석"
    assert ko["reservation.confirmed.body"] == "즐겁게 관람하세요."
    assert "먼저 입장해도 유리하지 않습니다" in ko["queue.prequeue.fair"]
