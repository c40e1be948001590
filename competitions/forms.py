from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta:
        model = User
        fields = ("username", "email")


class JoinForm(forms.Form):
    accept_rules = forms.BooleanField(
        label="I have read and accept the competition rules", required=True
    )


class SubmissionForm(forms.Form):
    image = forms.FileField(
        label="Image archive",
        help_text="The output of `docker save IMAGE -o image.tar` (may be gzip-compressed).",
    )
    description = forms.CharField(max_length=500, required=False)
