"""The demo org's people, shared by both emulators so that every Salesforce user has a mailbox."""

from dataclasses import dataclass

PASSWORD = "sandbox"
SERVICE_ACCOUNT = "sync-service@sandbox.test"
PROFILES = ("Standard User", "Sales Manager")


@dataclass(frozen=True)
class DemoUser:
    username: str
    email: str
    first_name: str
    last_name: str
    profile: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("amelia.hart@sandbox.test", "amelia.hart@sandbox.test", "Amelia", "Hart", "Sales Manager"),
    DemoUser("ben.okafor@sandbox.test", "ben.okafor@sandbox.test", "Ben", "Okafor", "Standard User"),
    DemoUser("chloe.martin@sandbox.test", "chloe.martin@sandbox.test", "Chloé", "Martin", "Standard User"),
    DemoUser("daniel.kim@sandbox.test", "daniel.kim@sandbox.test", "Daniel", "Kim", "Standard User"),
    DemoUser("eva.lindqvist@sandbox.test", "eva.lindqvist@sandbox.test", "Eva", "Lindqvist", "Sales Manager"),
)
