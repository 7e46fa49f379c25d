"""A digest → an RFC 5322 message: Jinja2 HTML + plain text, headers via `EmailMessage`.

Agency-supplied text (names, titles) never reaches a header unflattened: control characters
and line breaks become spaces before the header is set, and `policy=SMTP` encodes the rest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.adapters import texts
from services.notifier.domain.alerts import SEVERITY, Alert, AlertKind, Severity
from services.notifier.domain.digest import Digest, sections
from services.notifier.domain.directory import Directory
from services.notifier.service_layer.ports import InvalidAddress
from shared.labels import period_label

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_text_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class _Subject(str):
    """A Subject folded by `email.header`: CPython 3.11's folder can drop the space between two
    encoded words ("Việt Namtỉnh"). `EmailPolicy` uses a value's own `fold` when it has a `name`."""

    name = "Subject"

    def fold(self, *, policy) -> str:
        charset = None if self.isascii() else "utf-8"
        encoded = Header(str(self), charset, header_name=self.name, maxlinelen=76).encode(
            linesep=policy.linesep
        )
        return f"{self.name}: {encoded}{policy.linesep}"


def header_text(value: str) -> str:
    """One line of text, safe to put in a header."""
    return " ".join(_CONTROL.sub(" ", value).split())


def address(name: str, email: str) -> Address:
    if not _EMAIL.match(email or ""):
        raise InvalidAddress(f"not a plain e-mail address: {email!r}")
    user, domain = email.rsplit("@", 1)
    return Address(display_name=header_text(name), username=user, domain=domain)


def parse_sender(text: str) -> Address:
    """ "Tiendo <tiendo@example>" or a bare address."""
    match = re.match(r"^\s*(?P<name>[^<]*?)\s*<(?P<addr>[^>]+)>\s*$", text)
    return address(match["name"], match["addr"]) if match else address("", text.strip())


@dataclass(frozen=True)
class RenderContext:
    directory: Directory
    sender: str
    ack_link: Callable[[Alert], str | None] = lambda alert: None
    pages_url: str | None = None  # the aggregator's pages for people (NOTIFIER_PAGES_URL)

    def figure_link(self, alert: Alert, lang: str) -> str | None:
        """The page of the alert's figure (a report alert: its agency's page), in the reader's
        language; the page itself asks for a login and answers within the reader's scope."""
        if not self.pages_url:
            return None
        path = f"/agencies/{quote(alert.agency)}"
        if alert.indicator is not None:
            path += f"/figures/{quote(alert.indicator)}/{quote(alert.period)}"
        return self.pages_url.rstrip("/") + path + ("?lang=en" if lang == "en" else "")


def subject(digest: Digest, directory: Directory) -> str:
    lang = digest.recipient.language
    t = texts.T[lang]
    firing = [*digest.new, *digest.still_open]
    scope = firing or digest.resolved
    agencies = {a.agency for a in scope}
    parts = []
    if firing:
        counts = Counter(a.kind for a in firing)
        order = sorted(counts, key=lambda k: (list(Severity).index(SEVERITY[k]), list(AlertKind).index(k)))
        head = texts.KIND_COUNT[lang][order[0]].format(n=counts[order[0]])
        rest = sum(counts[k] for k in order[1:])
        parts.append(head + (f" (+{t['other'].format(n=rest)})" if rest else ""))
    else:
        parts.append(t["resolved_subject"].format(n=len(digest.resolved)))
    parts.append(
        directory.agency(next(iter(agencies))).name(lang, _day(digest, directory))
        if len(agencies) == 1
        else t["agencies"].format(n=len(agencies))
    )
    periods = {a.period for a in scope}
    if len(periods) == 1:
        parts.append(period_label(next(iter(periods)), lang))
    prefix = "[Tiendo] " + (f"{t['repeat']}: " if digest.reason == "repeat" else "")
    return header_text(prefix + " — ".join(parts))


def _day(digest: Digest, directory: Directory) -> date:
    """The digest's day in the plan's zone: an agency renamed by an amendment is named as it is then."""
    return digest.created_at.astimezone(ZoneInfo(directory.timezone)).date()


def _local(value: datetime | str | None, tz: str) -> str:
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M")


def _view(alert: Alert, digest: Digest, ctx: RenderContext, now: datetime) -> dict:
    lang, d, f = digest.recipient.language, ctx.directory, alert.facts
    t = texts.T[lang]
    indicator = d.indicator(alert.indicator)
    unit = indicator.unit(lang)
    whole = indicator.kind == "count"  # cases and sessions are whole things, grams are not
    own = alert.agency in d.led_by(digest.recipient.email)
    name = d.agency(alert.agency).name(lang, _day(digest, d))
    escalated = None
    if not own and alert.firing:
        days = max((now - alert.opened_at).days, 0)
        escalated = t["escalated"].format(agency=name, days=days)
    return {
        "agency": name,
        "indicator": indicator.name(lang),
        "period": period_label(alert.period, lang),
        "title": texts.KIND_TITLE[lang][alert.kind],
        "severity": alert.severity.value,
        "severity_label": t["severity"][alert.severity.value],
        "is_report": alert.indicator is None,
        **{
            name: texts.number(f.get(name), lang, whole)
            for name in ("actual", "target", "expected", "forecast")
        },
        "unit": unit,
        "deadline": _local(f.get("deadline"), ctx.directory.timezone) if f.get("deadline") else None,
        "submitted_at": _local(f.get("submitted_at"), ctx.directory.timezone)
        if f.get("submitted_at")
        else None,
        "todo": texts.what_to_do(lang, alert.kind, _missing(alert, d, lang)),
        "acked": t["acked"].format(who=alert.acked_by, when=_local(alert.acked_at, ctx.directory.timezone))
        if alert.acked_at
        else None,
        "ack_link": ctx.ack_link(alert) if alert.firing and not alert.acked_at else None,
        "figure_link": ctx.figure_link(alert, lang),
        "escalated": escalated,
        "is_new": False,
    }


def _missing(alert: Alert, d: Directory, lang: str) -> str | None:
    code = d.missing_figure(alert.agency, alert.indicator, alert.period)
    return d.indicator(code).name(lang) if code else None


def _groups(digest: Digest, ctx: RenderContext) -> dict[str, list[dict]]:
    """Sections for "new", "still open" and "resolved". A commune's new alert joins its district's
    section even when the district alert is an old one, so related alerts are read together."""
    now, new_ids = digest.created_at, {a.id for a in digest.new}
    out: dict[str, list[dict]] = {"new": [], "still_open": [], "resolved": []}
    for name, alerts in (("firing", [*digest.new, *digest.still_open]), ("resolved", digest.resolved)):
        for s in sections(alerts, ctx.directory):
            group = name if name == "resolved" else ("new" if s.head.id in new_ids else "still_open")
            out[group].append(
                {
                    "head": _view(s.head, digest, ctx, now),
                    "children": [
                        {**_view(c, digest, ctx, now), "is_new": c.id in new_ids and group != "new"}
                        for c in s.children
                    ],
                }
            )
    return out


def render(digest: Digest, ctx: RenderContext, domain: str = "tiendo.local") -> EmailMessage:
    lang = digest.recipient.language
    t = texts.T[lang]
    now = digest.created_at
    silences = [
        t["silence_line"].format(
            scope=" / ".join(
                p
                for p in (
                    s.agency and ctx.directory.agency(s.agency).name(lang, _day(digest, ctx.directory)),
                    s.indicator and ctx.directory.indicator(s.indicator).name(lang),
                    s.period and period_label(s.period, lang),
                )
                if p
            ),
            until=_local(s.ends_at, ctx.directory.timezone),
            reason=s.reason,
            by=s.created_by,
        )
        for s in digest.silences
    ]
    model = {
        "t": t,
        "lang": lang,
        "subject": subject(digest, ctx.directory),
        "greeting": t["greeting"].format(name=digest.recipient.name),
        "intro": texts.intro(lang, ctx.directory.plans_of([a.period for a in digest.alerts])),
        **_groups(digest, ctx),
        "silences": silences,
        "inhibited": t["inhibited"].format(n=len(digest.inhibited)) if digest.inhibited else None,
    }
    message = EmailMessage(policy=SMTP)
    message["Subject"] = _Subject(model["subject"])
    message["From"] = parse_sender(ctx.sender)
    message["To"] = address(digest.recipient.name, digest.recipient.email)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{digest.message_token}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # no vacation auto-replies back to us
    message.set_content(
        _text_env.get_template("digest.txt.j2").render(**model), charset="utf-8", cte="quoted-printable"
    )
    message.add_alternative(
        _env.get_template("digest.html.j2").render(**model),
        subtype="html",
        charset="utf-8",
        cte="quoted-printable",
    )
    message["Content-Language"] = lang  # after set_content, which drops Content-* headers
    # Deterministic, and "=_" can never occur in quoted-printable parts.
    message.set_boundary(f"=_tiendo_{digest.message_token}")
    return message


@dataclass(frozen=True)
class DigestComposer:
    """The `Composer` port: digests rendered from these templates, from one sender, in the plan's
    zone (the directory's)."""

    directory: Directory
    sender: str  # "Tiendo <tiendo@example>"; an invalid one fails here, at start-up
    pages_url: str | None = None

    def __post_init__(self) -> None:
        parse_sender(self.sender)

    @property
    def from_address(self) -> str:
        return parse_sender(self.sender).addr_spec

    def compose(self, digest: Digest, ack_link: Callable[[Alert], str]) -> EmailMessage:
        ctx = RenderContext(self.directory, self.sender, ack_link, self.pages_url)
        return render(digest, ctx, domain=parse_sender(self.sender).domain)
