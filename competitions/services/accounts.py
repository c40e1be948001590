"""Accounts: look-alike-free usernames, unique e-mail addresses (case-insensitive), the
optional e-mail verification, settings, and the user's API token (for the `podium` client)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from competitions.models import Account, UsernameKey
from competitions.names import InvalidName, name_check_visible, name_key
from podium.errors import ApplicationError

# One answer for a name that is taken and for one that only looks like a taken one, so
# signing up tells no more than that some account's name looks like this one.
USERNAME_UNAVAILABLE = (
    "This username is not available (it is, or looks like, one in use); choose another."
)


def _username_keys_fill() -> None:
    """Key the accounts made outside the platform's sign-up (admin, shell, fixtures)."""
    for user in get_user_model().objects.filter(username_key__isnull=True):
        key = name_key(user.get_username())
        if UsernameKey.objects.filter(key=key).exists():
            key = f"{key}#{user.pk}"  # a legacy look-alike stays, nothing new may match it
        UsernameKey.objects.create(user=user, key=key)


def account_username_check(*, username: str) -> None:
    """Refuse (ApplicationError, code `username_unavailable`) a username that is, or looks
    like (competitions.names.name_key), an existing one; refuse (code `invalid_name`) one
    holding an invisible or control character (competitions.names.name_check_visible)."""
    try:
        name_check_visible(username, what="A username")
    except InvalidName as exc:
        raise ApplicationError(str(exc), {"code": "invalid_name"}) from exc
    _username_keys_fill()
    if UsernameKey.objects.filter(key=name_key(username)).exists():
        raise ApplicationError(USERNAME_UNAVAILABLE, {"code": "username_unavailable"})


@transaction.atomic
def account_username_record(*, user: User) -> UsernameKey:
    """Record a new account's look-alike key; call in the transaction that made the user.

    Raises ApplicationError (code `username_unavailable`) when a look-alike was made
    meanwhile: the caller's transaction must then roll the account back.
    """
    _username_keys_fill()
    existing = UsernameKey.objects.filter(user=user).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return UsernameKey.objects.create(user=user, key=name_key(user.get_username()))
    except IntegrityError as exc:
        raise ApplicationError(USERNAME_UNAVAILABLE, {"code": "username_unavailable"}) from exc


@transaction.atomic
def account_token_rotate(*, user: User) -> Token:
    """Replace the user's token: the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


# One answer for an address in use whatever the reason; with PODIUM_EMAIL_VERIFICATION on,
# sign-up never gives it (the owner of the address gets an e-mail instead).
EMAIL_UNAVAILABLE = (
    "This e-mail address cannot be used for a new account. If it is yours, reset the "
    "password of your account instead."
)


def email_key(address: str) -> str:
    """The key two addresses share when they differ only in case: the whole address
    case-folded (local parts are case-insensitive on every mail service in practice)."""
    return address.strip().casefold()


def _stale_unconfirmed(key: str) -> QuerySet[Account]:
    """Accounts made at sign-up with this address whose confirmation link has expired
    unused: they hold the address for nobody (and may have been made by someone who does
    not own it), so a new sign-up with the address replaces them."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return Account.objects.filter(
        email_key=key,
        email_verified=False,
        user__is_active=False,
        user__last_login__isnull=True,
        user__date_joined__lt=cutoff,
    )


def account_email_taken(*, email: str) -> bool:
    """Whether an account has this address (in any case), counting accounts made before
    addresses were unique (their User.email) as well as those keyed at sign-up; an
    unconfirmed account whose link expired does not count."""
    key = email_key(email)
    held = Account.objects.filter(email_key=key).exclude(pk__in=_stale_unconfirmed(key))
    if held.exists():
        return True
    stale_users = _stale_unconfirmed(key).values("user_id")
    return (
        get_user_model()
        .objects.filter(email__iexact=email.strip())
        .exclude(pk__in=stale_users)
        .exists()
    )


@transaction.atomic
def account_email_record(*, user: User) -> Account:
    """Key a new account's address; call in the transaction that made the user.

    Raises ApplicationError (code `email_unavailable`) when another account has the
    address (made meanwhile): the caller's transaction must then roll the account back.
    """
    email = getattr(user, "email", "")
    if not email:
        raise ApplicationError("An e-mail address is required.", {"code": "email_required"})
    stale = list(_stale_unconfirmed(email_key(email)).values_list("user_id", flat=True))
    get_user_model().objects.filter(pk__in=stale).delete()
    try:
        with transaction.atomic():
            return Account.objects.create(user=user, email_key=email_key(email))
    except IntegrityError as exc:
        raise ApplicationError(EMAIL_UNAVAILABLE, {"code": "email_unavailable"}) from exc


@transaction.atomic
def account_settings_update(*, user: User, notify_by_email: bool) -> Account:
    """Turn e-mail notifications on or off (an account made before this gets its row)."""
    account, _ = Account.objects.get_or_create(user=user)
    account.notify_by_email = notify_by_email
    account.save(update_fields=["notify_by_email"])
    return account


@transaction.atomic
def account_email_verify(*, user: User) -> None:
    """Activate an account whose owner opened the link mailed to its address."""
    Account.objects.filter(user=user).update(email_verified=True)
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])


def _verification_link(*, user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url + reverse("verify_email", kwargs={"uidb64": uid, "token": token})


def account_verification_send(*, user: User, base_url: str) -> None:
    """Mail the new account's owner the link that activates it (valid for
    PASSWORD_RESET_TIMEOUT seconds, until first used). ``base_url``: "https://host"."""
    link = _verification_link(user=user, base_url=base_url)
    send_mail(
        "[Podium] Confirm your e-mail address",
        f"Someone (we hope you) made the Podium account {user.get_username()!r} with this "
        f"address. Open this link to confirm it and log in:\n\n{link}\n\n"
        "If it was not you, ignore this message: the account stays inactive.",
        None,
        [getattr(user, "email", "")],
    )


def account_signup_attempt_notify(*, email: str, base_url: str) -> None:
    """Tell the owner of an address in use that someone tried to sign up with it, with
    the way back into their account: sign-up itself answers as for a new address."""
    link = base_url + reverse("password_reset")
    send_mail(
        "[Podium] Sign-up with your e-mail address",
        "Someone tried to make a new Podium account with this address, which already "
        "belongs to an account. If it was you and you forgot your password, reset it here:"
        f"\n\n{link}\n\nIf it was not you, ignore this message; nothing was changed.",
        None,
        [email],
    )


def account_from_uid(*, uidb64: str) -> User | None:
    """The user a mailed link names, or None for a malformed or unknown id."""
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        return get_user_model().objects.filter(pk=int(pk)).first()
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
