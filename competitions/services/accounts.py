"""Accounts: look-alike-free usernames, and the user's API token (for the `podium` client)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from competitions.models import UsernameKey
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
