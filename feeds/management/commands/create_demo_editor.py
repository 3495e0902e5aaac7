import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from feeds.permissions import ensure_editors_group


class Command(BaseCommand):
    help = "For the local demo: create an 'editor' login in the Editors group if none exists."

    def handle(self, *args, **options):
        User = get_user_model()
        secret_file = settings.VAR_DIR / "editor-password.txt"
        if User.objects.filter(is_staff=True).exists():
            if secret_file.exists():
                self.stdout.write(f"editor login: see {secret_file}")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user("editor", password=password, is_staff=True)
        user.groups.add(ensure_editors_group())
        secret_file.write_text(f"editor {password}\n")
        secret_file.chmod(0o600)
        self.stdout.write(f"editor login: editor / {password} (also in {secret_file})")
