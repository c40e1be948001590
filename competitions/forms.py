from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from competitions.services.accounts import (
    EMAIL_UNAVAILABLE,
    account_email_taken,
    account_username_check,
)
from podium.errors import ApplicationError


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=True,
        help_text="For password resets and, if you want them, notifications. Never shown.",
    )
    # Set by clean_email: another account has this address (any case). With
    # PODIUM_EMAIL_VERIFICATION on the view answers as for a new address (no form error).
    email_taken = False

    class Meta:
        model = User
        fields = ("username", "email")

    def clean_username(self) -> str:
        # Replaces Django's "already exists" check: one answer for taken and look-alike.
        username = self.cleaned_data.get("username", "")
        try:
            account_username_check(username=username)
        except ApplicationError as exc:
            raise ValidationError(exc.message, code="username_unavailable") from exc
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "").strip()
        self.email_taken = account_email_taken(email=email)
        if self.email_taken and not settings.PODIUM_EMAIL_VERIFICATION:
            raise ValidationError(EMAIL_UNAVAILABLE, code="email_unavailable")
        return email


class AccountSettingsForm(forms.Form):
    notify_by_email = forms.BooleanField(
        label="E-mail me when one of my runs finishes or I am invited to a team",
        required=False,
    )


class JoinForm(forms.Form):
    accept_rules = forms.BooleanField(
        label="I have read and accept the competition rules", required=True
    )


class SubmissionForm(forms.Form):
    """An image either as a file in this request (small files, no JavaScript) or as the
    id of a finished resumable upload (what the page's script sends for any size)."""

    image = forms.FileField(
        label="Image or code archive",
        required=False,
        help_text="The output of `docker save IMAGE -o image.tar` (may be gzip-compressed), "
        "or a zip/tar.gz of code with main.py or run.sh at its root.",
    )
    upload = forms.UUIDField(required=False, widget=forms.HiddenInput)
    runtime_image = forms.CharField(max_length=200, required=False)
    description = forms.CharField(max_length=500, required=False)
    debug = forms.BooleanField(
        label="Debug run (a small public sample, full log; checked, not scored; never ranked)",
        required=False,
    )

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if not data.get("image") and not data.get("upload"):
            self.add_error("image", "This field is required.")
        return data


class DescribeForm(forms.Form):
    description = forms.CharField(max_length=500, required=False, label="Description")


class SelectForm(forms.Form):
    selected = forms.BooleanField(required=False)


class TeamRenameForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)


class InviteForm(forms.Form):
    username = forms.CharField(label="Username to invite", max_length=150)


class MergeForm(forms.Form):
    target = forms.CharField(label="Name of the team to merge into", max_length=100)


class RespondForm(forms.Form):
    accept = forms.TypedChoiceField(
        choices=[("1", "Accept"), ("0", "Decline")], coerce=lambda v: v == "1"
    )
