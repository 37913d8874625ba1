"""Before a run: one correct request to the target, the driver and the callback address, so that a
wrong credential or URL stops the run with a sentence naming it instead of a thousand verdicts.

The request goes to the spec's probe page (`probe_page`): read-only, served in both supplier modes,
taking no parameter of its own, and telling apart the most credential refusals. A refusal is read
back into the profile's refusal classes (`error_fallbacks`); rule (e) decides between KEY and
password, since the target signs its answer with the KEY it knows for the agent."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Iterable

import httpx

from spec import signing
from spec.errors import YbxError, resolve
from spec.model import Page, Profile, Retcode, SignProfile, Spec
from spec.protocol import Credentials, callback_url, encode_request

from .drivers import AdminDriver, Driver, DriverError, NoAdminApi, TokenRefused
from .target import Exchange, Target

# The probe page's answer elements naming the supplier, and the modes its `type` element's values
# stand for, in the order the spec lists them (1 scenic area, 2 theater)
SUPPLIER_ID = ("Item", "providerid")
SUPPLIER_NAME = ("Item", "providername")
SUPPLIER_TYPE = ("Item", "type")
MODES = ("scenic", "theater")
# The profile's refusal classes that name a credential, in the order a target checks them (pipeline).
CREDENTIAL_CLASSES = ("unknown_agent", "bad_sign", "account_disabled", "bad_password")
TIMEOUT = 10.0
# a placeholder of a manual message (xxxx, X, [ZJHM], ex): the text before it is what an answer starts with
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]|xxxx|(?<![A-Za-z0-9_])(?:X|ex)(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class Flags:
    """The command-line names of one agent's credentials, for the sentences."""

    user: str = "--user"
    password: str = "--password"
    key: str = "--key"
    target: str = "--target"


OTHER_FLAGS = Flags("--other-user", "--other-password", "--other-key")


def _common_params(spec: Spec) -> frozenset[str]:
    pages = spec.request_pages
    names = [{p.name.lower() for p in page.params} for page in pages if page.rest is None]
    return frozenset(set.intersection(*names)) if names else frozenset()


def _told_apart(page: Page, profile: Profile) -> int:
    return len({resolve(page, YbxError(c), profile).key for c in CREDENTIAL_CLASSES})


def probe_page(spec: Spec, profile: Profile) -> Page:
    """The page a preflight request reads: a request page served in both modes whose behaviour writes,
    fires, calls back and debits nothing, and which takes only the parameters every page takes (the
    credentials and the envelope); of these, the one whose retcodes tell most credential refusals apart
    (GetProviderConfig in the shipped spec), the first by section on a tie."""
    common = _common_params(spec)
    candidates = [p for p in spec.request_pages
                  if p.rest is None and p.mode == "both" and "GET" in p.methods
                  and not (p.behaviour.writes or p.behaviour.events or p.behaviour.callbacks or p.behaviour.accounts)
                  and {q.name.lower() for q in p.params} <= common]
    if not candidates:
        raise ValueError("the spec has no read-only page taking only the common parameters to preflight with")
    best = max(_told_apart(p, profile) for p in candidates)
    return next(p for p in candidates if _told_apart(p, profile) == best)


def describe_sign(recipe: SignProfile) -> str:
    """Profile rule (d) in words, as a person checks it against their own code."""
    names = {"lower": "lower-cased", "upper": "upper-cased"}.get(recipe.name_case, "as sent")
    key = {"append": "KEY appended", "prepend": "KEY prepended"}.get(recipe.key_position,
                                                                   f"KEY as parameter {recipe.key_param}")
    values = {"transmitted": "as transmitted (encrypted ones in their Base64, before URL encoding)",
              "url-encoded": "URL-encoded"}.get(recipe.value_form, recipe.value_form)
    return (f"{recipe.hash.upper()} ({recipe.hex_case}-case hex) of the {'non-empty ' if recipe.skip_empty else ''}"
            f"parameters except {', '.join(recipe.exclude)}, names {names}, "
            f"{'sorted by name' if recipe.sort == 'name' else 'in the order sent'}, "
            f"'{recipe.pair_format}' joined by '{recipe.separator}', values {values}, {key}")


def _retcode(page: Page, code: str, message: str) -> Retcode | None:
    """The page's retcode an answer is, by code and, where several share it, by the message's start."""
    same = [r for r in page.retcodes if r.code == code]
    if len(same) <= 1:
        return same[0] if same else None
    for r in same:
        start = _PLACEHOLDER.split(r.message_zh, maxsplit=1)[0].rstrip()
        if start and message.startswith(start):
            return r
    return None


def refusal_classes(page: Page, profile: Profile, code: str, message: str) -> tuple[str, ...]:
    """The credential refusal classes the answer (`code`, `message`) can stand for on `page`."""
    found = _retcode(page, code, message)
    if found is None:
        return ()
    return tuple(c for c in CREDENTIAL_CLASSES if resolve(page, YbxError(c), profile).key == found.key)


def _cause(classes: Iterable[str], ex: Exchange, creds: Credentials, profile: Profile, flags: Flags) -> str:
    classes = set(classes)
    verified = ex.envelope is not None and ex.envelope.verify(creds.key, profile.response)
    unknown_sign = ex.envelope is not None and ex.envelope.sign == profile.response.unknown_agent_sign
    if "unknown_agent" in classes and (len(classes) == 1 or (unknown_sign and not verified)):
        return f"the user name ({flags.user} {creds.user}): the target knows no such agent"
    if "account_disabled" in classes and (len(classes) == 1 or verified):
        return f"the account, not a credential: the target says agent {creds.user} is disabled (enable it at the supplier)"
    if classes & {"bad_sign", "bad_password"}:
        if not verified:
            return (f"the KEY ({flags.key}): the answer's sign does not verify with it either (rule e), so the target "
                    f"signs with another KEY for {creds.user}")
        return (f"the login password ({flags.password}): the answer's sign verifies with the KEY, so the KEY is right "
                f"and the refusal is of the password")
    return (f"not a credential the answer names; the request follows profile '{profile.name}' (is it the target's "
            f"profile? --profile / --profile-file)")


def _signed_with(page: Page, ex: Exchange, creds: Credentials, profile: Profile) -> list[str]:
    canonical = signing.canonical_string(ex.params, creds.key, profile.sign)
    if creds.key:
        canonical = canonical.replace(creds.key, "<KEY>")
    return [f"  sign recipe (profile '{profile.name}', rule d): {describe_sign(profile.sign)}",
            f"  string signed: {canonical}",
            f"  request: {ex.curl()}"]


def check_agent(base_url: str, creds: Credentials, spec: Spec, profile: Profile, flags: Flags = Flags(),
                timeout: float = TIMEOUT) -> list[str]:
    """One correct request of the probe page as `creds`; [] when the target accepts it (and its answer's
    sign verifies), else the lines saying what was refused and which credential or URL is the likely cause."""
    page = probe_page(spec, profile)
    target = Target(base_url, creds, spec, profile, timeout)
    try:
        ex = target.call(page, note="preflight")
        if ex.status is None:
            return [f"cannot reach {base_url}: {ex.error}", f"  likely cause: the URL ({flags.target}), or the "
                    f"target is not running"]
        if ex.envelope is None:
            return [f"{ex.url} answered HTTP {ex.status}, not a YBX answer ({ex.error})",
                    f"  likely cause: the URL ({flags.target}): give the folder holding the interface pages, "
                    f"e.g. http://127.0.0.1:8765 or …/theater"]
        if _success(page, ex.envelope.retcode):
            if ex.envelope.verify(creds.key, profile.response) or _checks_signs(target, page, creds, profile):
                return []  # a target that checks signs took ours: the KEY is right, its answer's sign is a finding
            return [f"the target accepted {page.page} as {creds.user}, but its answer's sign does not verify with "
                    f"the KEY, and it accepts a wrong request sign too",
                    f"  likely cause: the KEY ({flags.key}) (rule e: the answer is signed with the agent's KEY)",
                    *_signed_with(page, ex, creds, profile)]
        classes = refusal_classes(page, profile, ex.envelope.retcode, ex.envelope.retmsg)
        return [f"the target refused a correct {page.page} request of agent {creds.user}: retcode "
                f"{ex.envelope.retcode} {ex.envelope.retmsg}".rstrip(),
                f"  likely cause: {_cause(classes, ex, creds, profile, flags)}",
                *_signed_with(page, ex, creds, profile)]
    finally:
        target.close()


def _checks_signs(target: Target, page: Page, creds: Credentials, profile: Profile) -> bool:
    """Whether the target refuses a request whose sign is wrong (then it took ours as right)."""
    pairs = [(k, v) for k, v in encode_request(page, {}, creds, profile) if k != "sign"]
    wrong = "0" * len(signing.request_sign(pairs, creds.key, profile.sign))
    ex = target.send(page, [*pairs, ("sign", wrong)], note="preflight: a wrong sign")
    return ex.envelope is not None and not _success(page, ex.envelope.retcode)


def _success(page: Page, code: str) -> bool:
    return any(r.success and r.code == code for r in page.retcodes)


def check_callback_url(url: str, spec: Spec, profile: Profile, pages: Iterable[str] = (),
                       timeout: float = TIMEOUT, flag: str = "--url") -> list[str]:
    """Whether the OTA's callback address answers HTTP at all (any status): [] or the lines saying it does not.
    A bare GET of the first callback page (of `pages`, else of the spec), which a callback page refuses."""
    chosen = [spec.page(p) for p in pages] or list(spec.pages_by("callback"))
    where = callback_url(profile, url, chosen[0]) if chosen else url
    try:
        httpx.get(where, timeout=timeout)
    except httpx.HTTPError as exc:
        return [f"cannot reach the OTA's callback address {where} (no HTTP answer): {type(exc).__name__}: {exc}",
                f"  likely cause: the URL ({flag}, the OTA's responseaddr), or the OTA's server is not running"]
    return []


def driver_problems(driver: Driver, url_flag: str = "--admin-url", token_flag: str = "--admin-token") -> list[str]:
    """The driver's own check in sentences naming the option to correct; [] when it is ready."""
    try:
        driver.check()
    except TokenRefused as exc:
        return [str(exc), f"  likely cause: the admin token ({token_flag})"]
    except NoAdminApi as exc:
        return [str(exc), f"  likely cause: the admin URL ({url_flag}), or the mock is not running"]
    except DriverError as exc:
        return [str(exc)]
    return []


def same_agent(creds: Credentials, other: Credentials | None) -> list[str]:
    """A second agent that is the first one again: its isolation checks would fail or not run."""
    if other is None or other.user != creds.user:
        return []
    return [f"--other-user {other.user} is the agent of --user: the isolation checks need a second, different agent",
            "  likely cause: --other-user (another agent of the target, e.g. other-ota on the mock; or leave the "
            "--other-* options out, and the isolation checks are reported not run)"]


def _supplier_of(page: Page, ex: Exchange) -> dict[str, str] | None:
    """Mode, id and name of the supplier answering the probe page, by the spec's elements; None when the
    page does not name them."""
    kind, ident, name = (page.element(*path) for path in (SUPPLIER_TYPE, SUPPLIER_ID, SUPPLIER_NAME))
    if ex.envelope is None or kind is None or ident is None or name is None:
        return None
    code = ex.envelope.text("/".join(SUPPLIER_TYPE))
    return {"mode": dict(zip(kind.values, MODES)).get(code, f"type {code!r}"),
            "providerid": ex.envelope.text("/".join(SUPPLIER_ID)),
            "providername": ex.envelope.text("/".join(SUPPLIER_NAME))}


def _said_of(supplier: dict[str, str]) -> str:
    return f"'{supplier.get('providername', '')}' ({supplier.get('mode')}, providerid {supplier.get('providerid')})"


def driver_manages(driver: Driver, base_url: str, creds: Credentials, spec: Spec, profile: Profile,
                   url_flag: str = "--admin-url", timeout: float = TIMEOUT) -> list[str]:
    """Whether the admin API drives the target's own supplier: the supplier its `GET /_admin` names
    (`supplier`: mode, providerid) against the one the target's probe page answers as. [] when they
    agree, or when either does not say (another driver, a mock that does not name its supplier)."""
    if not isinstance(driver, AdminDriver):
        return []
    try:
        info = driver.get_json("")
    except (DriverError, httpx.HTTPError, ValueError):
        return []  # driver_problems already said what is wrong with the admin API
    managed = info.get("supplier") if isinstance(info, dict) else None
    if not isinstance(managed, dict):
        return []
    page = probe_page(spec, profile)
    target = Target(base_url, creds, spec, profile, timeout)
    try:
        ex = target.call(page, note="preflight: which supplier answers")
    finally:
        target.close()
    answering = _supplier_of(page, ex)
    if answering is None or (answering["mode"], answering["providerid"]) == (managed.get("mode"),
                                                                             managed.get("providerid")):
        return []
    own = base_url.rstrip("/") + "/_admin"
    return [f"the admin API at {driver.base} manages supplier {_said_of(managed)}, but the target {base_url} "
            f"answers {page.page} as supplier {_said_of(answering)}: its events and clock would drive another "
            f"supplier, and the checks needing them would not run",
            f"  likely cause: the admin URL ({url_flag}): give the admin API of the target's own supplier, "
            f"e.g. {own} (the mock: …/_admin for its scenic supplier, …/theater/_admin for its theater)"]


def stop(problems: list[str]) -> int:
    """Print what the preflight found on stderr; the exit code of a run that did not start (2)."""
    print("ybx-conform: preflight failed, nothing was run:", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    return 2
