"""Make data-derived text safe to post: inert in Slack mrkdwn, free of personal data, short.

Pure functions, no dependencies (but :func:`pseudonym_key` and :func:`write_private_file`, which
touch files). The order that matters when rendering a piece of
free text from the data is ``mask_pii`` → ``truncate`` → ``escape_mrkdwn`` (:func:`free_text`,
the one function for text people type: feedback, and every dimension value, since a channel or
campaign name is whatever someone typed into a UTM tag): masking
first so a cut cannot leave half an e-mail address behind, escaping last so the
escaped entities (``&amp;``) are not cut in half and are applied exactly once
(``escape_mrkdwn`` is deliberately not idempotent: ``&amp;`` becomes ``&amp;amp;``).

Neutralising mrkdwn formatting: Slack has no backslash escape for ``*``, ``_``, ``~``
and `````. The two usual tricks are a zero-width space next to the character or a
look-alike character. We use the full-width look-alikes (＊ ＿ ～ ｀, U+FF0A, U+FF3F,
U+FF5E, U+FF40): Slack's parser has no rule for them at all, so they are inert
whatever surrounds them, whereas whether a zero-width space breaks a ``*bold*`` span
depends on Slack's undocumented word-boundary rules. The cost is that a copied value
differs from the source, acceptable for a brief that is read, not parsed. Underscores
inside a word (``order_id``, ``fact_orders``) are left alone: Slack does not italicise
intra-word underscores, and identifiers stay readable; the worst case if it did is
cosmetic, never a ping. Broadcast words (``@channel``, ``@here``, ``@everyone``)
get a full-width ``＠`` for the same reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from opscadence.core.errors import UserError

__all__ = ["check_pseudonym_key", "config_pseudonym_key", "escape_mrkdwn", "free_text", "mask_pii", "mask_secrets",
           "pseudonym", "pseudonym_key", "redact_sample", "secret_values", "truncate", "write_private_file",
           "ELLIPSIS", "PSEUDONYM_KEY_ENV", "PSEUDONYM_KEY_FILE", "SECRET_MASK"]

ELLIPSIS = "…"

# ---------------------------------------------------------------------------
# Slack mrkdwn escaping
# ---------------------------------------------------------------------------

_FORMATTING = str.maketrans({"*": "＊", "~": "～", "`": "｀"})
# An underscore between two letters/digits (order_id, fact_orders) cannot open or close
# Slack italics, so it stays readable; any other underscore is neutralised.
_LOOSE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def escape_mrkdwn(text: str) -> str:
    """Return ``text`` made inert for Slack mrkdwn (apply once, to data only).

    ``&``, ``<``, ``>`` become ``&amp;``, ``&lt;``, ``&gt;`` (Slack's documented
    escaping), which defuses ``<!channel>``, ``<@U123>``, ``<#C1>`` and ``<url|text>``;
    ``*``, ``~``, ````` and any ``_`` not inside a word (``_x_``, but not ``order_id``)
    become full-width look-alikes so data cannot bold/italicise/strike/code;
    ``@channel``/``@here``/``@everyone`` get a full-width at sign.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _LOOSE_UNDERSCORE.sub("＿", text.translate(_FORMATTING))
    return _BROADCAST.sub(lambda m: "＠" + m.group(1), text)


# ---------------------------------------------------------------------------
# Personal data
# ---------------------------------------------------------------------------

# ASCII local part only: ``\w`` would swallow the Chinese text in front of an address.
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}")
# 18-digit resident ID: 6-digit region, birth date 18xx-20xx, 3-digit sequence, check digit/X.
_CN_ID = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
# Card numbers and other long identifiers: 13-19 digits, contiguous or in groups of 4.
_LONG_DIGITS = re.compile(r"(?<![0-9])\d{13,19}(?![0-9])")
_GROUPED_CARD = re.compile(r"(?<![0-9])\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,4})?(?![0-9])")
# Mainland-China mobile: 1[3-9]x xxxx xxxx, optionally +86 / 0086 and 3-4-4 grouping.
_CN_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?![0-9])")
# Generic phone: optional +country and (area), 2+ groups separated by space/hyphen.
# Dots are not separators (IP addresses, decimals); digit counts are checked in _phone.
_PHONE = re.compile(
    r"(?<![A-Za-z0-9+])(?:\+\d{1,3}[ \-]?)?(?:\(\d{1,4}\)[ \-]?)?\d{2,5}(?:[ \-]\d{2,5}){1,4}(?![A-Za-z0-9])"
)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{4}")


def _phone(match: re.Match[str]) -> str:
    s = match.group(0)
    digits = re.sub(r"\D", "", s)
    groups = re.findall(r"\d+", s)
    if _DATE.fullmatch(s.strip()):
        return s  # 2026-11-24 is a date, not a phone number
    if not 7 <= len(digits) <= 15 or max(len(g) for g in groups) < 3:
        return s  # "10 20 30 40" is a list of numbers
    return "[phone]"


def mask_pii(text: str, *, long_numbers: bool = True, structured: bool = False) -> str:
    """Redact personal data in free text.

    e-mail → ``[email]``; 18-digit Chinese resident ID → ``[id]``; 13–19 digit runs
    (card numbers, contiguous or grouped by 4) → ``[number]``; mainland mobile numbers
    and other phone numbers (7–15 digits written with spaces/hyphens) → ``[phone]``.
    ``long_numbers=False`` keeps long digit runs (for record ids such as order numbers).
    Heuristic by nature: it errs towards masking.

    ``structured=True`` is for text that quotes structured values (a data-quality finding:
    a bad timestamp, an amount, a record id): only the patterns none of those can match are
    masked (e-mail, resident ID, mainland mobile), so ``2026-12-32 10:00:00`` stays as it is.
    """
    text = _EMAIL.sub("[email]", text)
    text = _CN_ID.sub("[id]", text)
    if long_numbers and not structured:
        text = _LONG_DIGITS.sub("[number]", text)
        text = _GROUPED_CARD.sub("[number]", text)
    text = _CN_MOBILE.sub("[phone]", text)
    return text if structured else _PHONE.sub(_phone, text)


# A sample like ``user_id=123`` names a person: keep the key, drop the value.
_SAMPLE_KV = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*[=:]\s*(\S.*)$", re.DOTALL)
_KEY_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_PERSONAL_TOKENS = frozenset({
    "user", "uid", "customer", "visitor", "member", "buyer", "person", "openid", "unionid",
    "device", "account", "phone", "mobile", "tel", "email", "mail", "ip", "idcard", "name",
})


def redact_sample(sample: str) -> str:
    """Make a data-quality sample (``order_id=123``) safe to show.

    Values of person-identifying keys (``user_id=…``, ``customerId=…``, ``email=…``)
    become ``[redacted]``; anything else goes through :func:`mask_pii` keeping long
    record ids (an order number is not personal data). Not escaped: escape after.
    """
    m = _SAMPLE_KV.match(sample)
    if m:
        tokens = {t.lower() for t in _KEY_TOKEN.findall(m.group(1))}
        if tokens & _PERSONAL_TOKENS:
            return f"{m.group(1)}=[redacted]"
    return mask_pii(sample, long_numbers=False)


# ---------------------------------------------------------------------------
# Length
# ---------------------------------------------------------------------------

_PARTIAL_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters (code points), ending with "…".

    Text that fits is returned unchanged. A cut never splits a surrogate-free code
    point, and never leaves half an ``&amp;``/``&lt;``/``&gt;`` entity at the end.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    head = _PARTIAL_ENTITY.sub("", head).rstrip()
    return head + ELLIPSIS


# ---------------------------------------------------------------------------
# Free text from the data, for a message
# ---------------------------------------------------------------------------


def free_text(value: object, limit: int, *, empty: str = "") -> str:
    """Free text from the data (feedback, a channel/campaign/region name) made safe to post:
    personal data masked, on one line, cut to ``limit``, escaped for Slack (in that order).

    A value that is blank once its whitespace is collapsed gives ``empty``. Structured values
    (timestamps, amounts, ids: what a data-quality finding quotes) are escaped, never masked:
    ``2026-12-32 10:00:00`` must reach the operator as it is.
    """
    # Cap before masking, so the regex work is bounded whatever the input's size.
    masked = mask_pii(str(value)[: limit * 10])
    one_line = " ".join(masked.split())
    return escape_mrkdwn(truncate(one_line, limit)) if one_line else empty


# ---------------------------------------------------------------------------
# Secrets: credentials in URLs, tokens, keys
# ---------------------------------------------------------------------------

SECRET_MASK = "***"
# scheme://user:password@host: the password (the user name stays, it says which account).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<secret>[^@/?#\s]+)(?=@)")
# password=…, token: …, api_key=… (URL query strings, libpq conninfo, key/value error texts);
# the key must end with the word, so token_block (the name of a Prefect block) is left alone.
_KEY_VALUE = re.compile(
    r"(?P<head>\b[\w.\-]*(?:password|passwd|pwd|token|secret|api[_\-]?key)[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<secret>[^\s&'\",;)]+)",
    re.IGNORECASE,
)
# Slack tokens (bot, user, app-level, refresh, config) wherever they appear.
_SLACK_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9\-]+|\bxapp-[A-Za-z0-9\-]+")
# Environment variables whose values are secrets (SLACK_BOT_TOKEN, PGPASSWORD, …).
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|PSEUDONYM_KEY)$", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values would mask ordinary words


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the environment's secret variables (``SLACK_BOT_TOKEN``, ``PGPASSWORD``, …)."""
    environ = os.environ if environ is None else environ
    return [v.strip() for k, v in environ.items() if _SECRET_ENV.search(k) and len(v.strip()) >= _MIN_SECRET]


def mask_secrets(text: str, secrets: Iterable[str] | None = None, *, mask: str = SECRET_MASK) -> str:
    """``text`` with every credential replaced by ``mask`` (``***``): the password of a URL
    (``postgresql://ops:***@db/shop``), ``password=…``/``token=…`` pairs, Slack tokens, and each
    of ``secrets`` verbatim (default: :func:`secret_values` of the environment).

    The one masking function for anything printed, logged or raised that may hold a URL or a
    token: ``opscadence config``, warehouse connection errors, Slack delivery errors.
    """
    for secret in sorted(secret_values() if secrets is None else secrets, key=len, reverse=True):
        if secret and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, mask)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + mask, text)
    text = _KEY_VALUE.sub(lambda m: m["head"] + mask, text)
    return _SLACK_TOKEN.sub(mask, text)


# ---------------------------------------------------------------------------
# Pseudonyms: a stable stand-in for a customer id in messages
# ---------------------------------------------------------------------------

PSEUDONYM_KEY_ENV = "OPSCADENCE_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE = "pseudonym.key"  # in OPSCADENCE_HOME, 0600, 32 random bytes as hex
_MIN_ENV_KEY = 16


def pseudonym(customer_id: object, key: bytes, *, length: int = 6) -> str:
    """``"C-XXXXXX"``: the customer's stand-in in Slack and reports, the same for the same id and
    key every week, so a team can say "C-7KQ2ZD again" without seeing who it is.

    HMAC-SHA256 of the id (as text) under ``key``, its first 30 bits in base32 (A–Z, 2–7): without
    the key nobody can go from an id to its pseudonym or back. 2^30 values: among 1,000 customers
    the chance that two share one is about 0.05% (n²/2^31); the export keeps the real ids.

    ``length`` base32 characters of the digest (5 bits each, at most 52): an id stored in place
    of personal data (``opscadence import`` hashes a nickname into ``user_id``) uses 16, 80 bits,
    so that a million customers share none (n²/2^81 ≈ 4·10^-13).
    """
    if not key:
        raise ValueError("the pseudonym key is empty")
    if not 1 <= length <= 52:
        raise ValueError(f"length must be 1..52, got {length}")
    digest = hmac.new(key, str(customer_id).encode("utf-8"), hashlib.sha256).digest()
    return "C-" + base64.b32encode(digest)[:length].decode("ascii")


def pseudonym_key(home: Path, environ: Mapping[str, str] | None = None, *, production: bool = False) -> bytes:
    """The key of :func:`pseudonym`: ``OPSCADENCE_PSEUDONYM_KEY`` (at least 16 characters) when
    set, else (demo mode, the documented default) the key file ``<home>/pseudonym.key``, created on
    first use with 32 random bytes and mode 0600.

    ``production=True`` (config ``privacy.mode: production``): the variable is required, a missing
    one is a :class:`~opscadence.core.errors.UserError` naming it, and the key file is never read
    or created (a key made on one machine would give other pseudonyms than the next machine's).

    A key file others can read is refused (:class:`~opscadence.core.errors.UserError`): with it,
    anyone holding a list of customer ids could recompute the pseudonyms. Two processes creating
    the file at once end up with the same key (the file appears complete or not at all).
    """
    environ = os.environ if environ is None else environ
    value = environ.get(PSEUDONYM_KEY_ENV, "").strip()
    if value:
        if len(value) < _MIN_ENV_KEY:
            raise UserError(f"{PSEUDONYM_KEY_ENV} is shorter than {_MIN_ENV_KEY} characters; "
                            "use a long random value (python -c 'import secrets; print(secrets.token_hex(32))')")
        return value.encode("utf-8")
    if production:
        raise UserError(f"{PSEUDONYM_KEY_ENV} is not set: privacy.mode is production, where customer ids are "
                        f"pseudonymised with a key from the environment only; set it to a long random value "
                        f"(python -c 'import secrets; print(secrets.token_hex(32))'), the same wherever the flows run")
    path = Path(home) / PSEUDONYM_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UserError(f"the pseudonym key file {path} can be read by others (mode {mode:o}); "
                            f"run chmod 600 {path}")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise UserError(f"the pseudonym key file {path} does not hold a hex key of at least 16 bytes; "
                        f"delete it to have a new one made (pseudonyms will change) or set {PSEUDONYM_KEY_ENV}")
    return key


def config_pseudonym_key(cfg: object, environ: Mapping[str, str] | None = None) -> bytes:
    """:func:`pseudonym_key` for a configuration: its ``home`` and ``privacy.mode``."""
    mode = getattr(getattr(cfg, "privacy", None), "mode", "demo")
    return pseudonym_key(Path(getattr(cfg, "home")), environ, production=mode == "production")


def check_pseudonym_key(cfg: object, environ: Mapping[str, str] | None = None) -> None:
    """In production mode, fail before any work when ``OPSCADENCE_PSEUDONYM_KEY`` is missing or short
    (demo mode: nothing to check, the key file is made when first needed)."""
    if getattr(getattr(cfg, "privacy", None), "mode", "demo") == "production":
        config_pseudonym_key(cfg, environ)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    write_private_file(temporary, (secrets.token_hex(32) + "\n").encode("ascii"))
    try:
        os.link(temporary, path)  # fails if another process made it first: keep theirs
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def write_private_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` readable by its owner only (0600), replacing it atomically.

    The one way a file with real customer ids (an export) or a key is written: the file is
    created 0600 before a byte is in it, and readers see the old file or the new one, never half.
    The folder is created 0700 when missing.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)  # in case the umask or the platform widened it
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
