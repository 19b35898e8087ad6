import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin account if no superuser exists. The password comes from "
        "MODELYARD_ADMIN_PASSWORD, or is generated and printed once."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists already.")
            return
        username = os.environ.get("MODELYARD_ADMIN_USER", "admin")
        password = os.environ.get("MODELYARD_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created admin account {username!r}."))
        if generated:
            bar = "=" * 64
            self.stdout.write(
                f"{bar}\n  Log in as {username} with password: {password}\n"
                f"  It is shown only this once; change it under Admin > Users.\n{bar}"
            )
