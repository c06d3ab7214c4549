from django.core.management.base import BaseCommand

from orderflow.roles import roles_sync


class Command(BaseCommand):
    help = (
        "Create the staff role groups (viewer, operator, supervisor) with exactly their "
        "permissions. Safe to run again; migrate runs it too."
    )

    def handle(self, *args, **options):
        for role, codenames in roles_sync().items():
            self.stdout.write(f"{role}: {', '.join(codenames)}")
