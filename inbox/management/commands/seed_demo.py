"""`manage.py seed_demo`: the "Acme Hotels" demo tenant, so a fresh install has an inbox to show.

Creates the organization, four people (admin, supervisor, two agents), a Messenger page and an
X account, and about thirty customers whose hotel conversations span the last ten days in every
status. Customers' messages go through `message_receive` and status, assignment and priority
through `conversation_update`, exactly as in production, so SLA clocks start, pause and are
met as they would have been (open threads whose customer waits show running, warning or
breached deadlines; the sweep announces the overdue ones once the server runs). Agents' past
replies and notes are written with the ORM inside the tenant scope, because `message_send`
stamps the current time and enforces today's reply window; those writes keep the conversation
fields (and SLA clocks) the way `message_send` would have left them.

Idempotent: when the organization's slug exists the command changes nothing. Content is fixed
and the timing jitter comes from a seeded generator, so every run builds the same story
(relative to the moment it runs). Everything happens in one transaction, so a failed run leaves
nothing behind and a later run starts clean.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from inbox.errors import DomainError
from inbox.management.commands._output import command_error
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Customer,
    CustomerIdentity,
    Membership,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Organization,
    Priority,
    Role,
    SLAClock,
    SLAClockState,
    User,
    Visibility,
)
from inbox.services.channels import channel_create
from inbox.services.conversations import conversation_update
from inbox.services.customers import Profile, customer_update
from inbox.services.messages import message_receive, preview_of, reply_window
from inbox.services.organizations import member_create, organization_create
from inbox.services.sla import sla_reply
from inbox.tenancy import tenant_scope

DEMO_SLUG = "acme"
DEMO_NAME = "Acme Hotels"
DEMO_TIME_ZONE = "Europe/London"
# Published on purpose: it is a demo. The command refuses to run without DEBUG unless forced.
DEMO_PASSWORD = "parley-demo"  # noqa: S105
LOGIN_URL_HINT = "http://127.0.0.1:8000/accounts/login/"
X_HANDLE = "AcmeHotels"
SEED = 2026

ADMIN = "admin@acme.test"
SUPERVISOR = "supervisor@acme.test"
MARIA = "maria@acme.test"
TOM = "tom@acme.test"


@dataclass(frozen=True)
class DemoMember:
    email: str
    name: str
    role: str


MEMBERS = (
    DemoMember(ADMIN, "Ada Admin", Role.ADMIN),
    DemoMember(SUPERVISOR, "Sam Supervisor", Role.SUPERVISOR),
    DemoMember(MARIA, "Maria Lopez", Role.AGENT),
    DemoMember(TOM, "Tom Becker", Role.AGENT),
)

# A step of a script: "in"/"out" take the conversation's visibility (a public thread on X is a
# mention and its replies), "dm_in"/"dm_out" are always private (the thread moved to DMs).
Who = Literal["in", "out", "note", "dm_in", "dm_out"]
Script = tuple[tuple[Who, str], ...]

# `{first}` is the customer's first name.
SCRIPTS: dict[str, Script] = {
    "breakfast": (
        ("in", "Hi! Is breakfast included in my booking for next weekend? Reservation AH-48213."),
        (
            "out",
            "Hi {first}, thanks for getting in touch! Your rate includes breakfast for two, "
            "served 6:30-10:30 in the Orangery.",
        ),
        ("in", "Perfect. Is there a gluten-free option?"),
        (
            "out",
            "Absolutely: there's a gluten-free station every morning, and the kitchen is happy "
            "to prepare something to order.",
        ),
        ("in", "Great, thank you!"),
    ),
    "late_checkout": (
        ("in", "Hello, could we get a late checkout on Sunday? Our flight isn't until 9pm."),
        ("out", "Hi {first}, let me check with the front desk for you."),
        ("note", "Front desk: 2pm is free of charge, 4pm only for Gold members and above."),
        (
            "out",
            "Good news: checkout at 2pm is no problem. A 4pm checkout is available for £40 if "
            "you'd prefer.",
        ),
        ("in", "2pm works, thanks so much."),
        ("out", "Done, it's noted on your reservation. Safe travels!"),
    ),
    "lost_item": (
        ("in", "I think I left my phone charger in room 412 when I checked out this morning"),
        (
            "out",
            "Sorry to hear that, {first}! I've asked housekeeping to check room 412 and will "
            "get back to you shortly.",
        ),
        ("note", "Housekeeping found a white USB-C charger in 412, logged as LF-0193."),
        (
            "out",
            "Housekeeping found a white USB-C charger. We can post it to you (£6.50, tracked) "
            "or keep it at reception for 30 days. Which would you prefer?",
        ),
        ("in", "Please post it! 14 Elm Road, Bristol BS6 5AB."),
        ("out", "Thanks! It goes out with tomorrow's post, tracking number to follow."),
    ),
    "noise": (
        ("in", "The room next door has been playing loud music since midnight. Room 318. Help?"),
        ("out", "I'm so sorry, {first}. Security is on the way to the room next door right now."),
        ("note", "Security (Dave) sent to 320. Second complaint about that room this month."),
        ("in", "It's still going on..."),
        (
            "out",
            "Security has spoken to the guests and the music has stopped. Breakfast tomorrow "
            "is on us. Sorry for the disturbance.",
        ),
        ("in", "Thanks, finally quiet."),
    ),
    "booking_change": (
        ("in", "Hi, I need to move my booking from 14-16 March to 21-23 March. Ref AH-51877."),
        (
            "out",
            "Hi {first}! Those dates are available in the same room type at the same rate. "
            "Shall I go ahead and move it?",
        ),
        ("in", "Yes please!"),
        ("out", "All done. The updated confirmation is on its way to your email."),
    ),
    "double_charge": (
        ("in", "I was charged twice for my stay last week: £238 shows up two times on my card."),
        (
            "out",
            "I'm sorry about that, {first}. Could you send the last four digits of the card "
            "and your booking reference so I can look into it?",
        ),
        ("in", "Card ending 4471, booking AH-47302."),
        (
            "note",
            "Duplicate pre-authorisation, not a capture. Finance (Priya) is releasing it; "
            "3-5 working days.",
        ),
        (
            "out",
            "Thanks. The second amount is a pre-authorisation hold, not a payment: your bank "
            "will release it within 3-5 working days. I've asked finance to hurry it along.",
        ),
        ("in", "OK, I'll keep an eye on it. Thanks."),
    ),
    "parking": (
        ("in", "Do you have parking at the Kensington hotel? How much is it per night?"),
        (
            "out",
            "Hi {first}, yes: there's an underground car park, £25 per night. Spaces are "
            "limited, so we recommend reserving one.",
        ),
        ("in", "Can you reserve one for the 18th, 2 nights?"),
        ("out", "Reserved! You'll get the space number at check-in."),
    ),
    "spa": (
        ("in", "Is the spa open on Sunday evening? I'd like to book a massage for two."),
        (
            "out",
            "Hi {first}! The spa is open until 9pm on Sundays. We have couples' massage slots "
            "at 5pm and 7pm. Which would you like?",
        ),
        ("in", "7pm please"),
        (
            "out",
            "Booked for 7pm on Sunday, 60 minutes. Arrive 15 minutes early to enjoy the steam "
            "room. We'll send a reminder the day before.",
        ),
    ),
    "airport_transfer": (
        ("in", "Can you arrange a pickup from Heathrow T5? We land at 7:40am on Friday, BA286."),
        (
            "out",
            "Of course, {first}. A private transfer is £85; the driver tracks your flight and "
            "waits in arrivals with a name board. Shall I book it?",
        ),
        ("in", "Yes please, 2 adults and 3 suitcases."),
        ("out", "Booked! The driver's details will come by text the evening before."),
    ),
    "wifi": (
        ("in", "The wifi in my room keeps dropping out. Room 207."),
        (
            "out",
            "Sorry about that, {first}! Could you try the Acme-Guest-5G network? IT is also "
            "resetting the access point on your floor.",
        ),
        ("in", "The 5G one works much better, thanks."),
        ("out", "Great to hear. Enjoy the rest of your stay!"),
    ),
    "birthday": (
        ("in", "It's my wife's birthday when we stay on Saturday. Any chance of a surprise?"),
        (
            "out",
            "How lovely, {first}! We can put a cake and a bottle of prosecco in the room for "
            "£45, or flowers from £30. What would she like?",
        ),
        ("in", "The cake and prosecco sound perfect"),
        ("note", "Cake + prosecco on AH-52210, charge to room. Housekeeping sets up before 6pm."),
        ("out", "Wonderful, it will be waiting in your room on Saturday. Happy birthday to her!"),
    ),
    "accessibility": (
        ("in", "Do you have accessible rooms with a roll-in shower? I use a wheelchair."),
        (
            "out",
            "Hi {first}, yes: we have six accessible rooms with roll-in showers, grab rails and "
            "lowered fittings. Which dates are you looking at?",
        ),
        ("in", "3 nights from 2 May."),
        (
            "out",
            "I've put an accessible king room on hold for 2-5 May for 48 hours. Reply here to "
            "confirm and I'll finalise it.",
        ),
    ),
    "cleanliness": (
        ("in", "Just checked in and the bathroom hasn't been cleaned. Used towels everywhere!"),
        (
            "out",
            "I'm very sorry, {first}, that's not our standard. We're moving you to a freshly "
            "cleaned room right away; a porter will help with your bags.",
        ),
        ("note", "Tonight's room rate comped. Raised with the housekeeping manager."),
        ("out", "The porter is on his way, and we've taken tonight's charge off your bill."),
        ("in", "Thank you, the new room is much better."),
    ),
    "pets": (
        ("in", "Are dogs allowed? We have a small cocker spaniel."),
        (
            "out",
            "Hi {first}! Well-behaved dogs are very welcome in our garden rooms: £20 a night, "
            "bed and bowls included.",
        ),
        ("in", "Brilliant, we'll book one of those."),
    ),
    "invoice": (
        ("in", "Could you send a VAT invoice for my stay on 3-5 March, made out to Northwind Ltd?"),
        ("out", "Of course, {first}. The invoice will be in your inbox within the hour."),
        ("in", "Got it, thanks."),
    ),
    "restaurant": (
        ("in", "Can I book a table for 4 at the rooftop restaurant on Friday at 8?"),
        (
            "out",
            "Hi {first}, Friday at 8 is fully booked, but we have 7:30 or 9:15. Would either work?",
        ),
        ("in", "7:30 is fine."),
        ("out", "Table for 4 at 7:30 on Friday, booked. See you then!"),
    ),
    "praise": (
        ("in", "Just had the best stay at the Kensington hotel, the staff were amazing!"),
        (
            "out",
            "Thank you so much, {first}! We'll pass this on to the team. Hope to see you soon.",
        ),
    ),
    "slow_checkin": (
        ("in", "Waited 40 minutes to check in at @AcmeHotels Manchester tonight. Not impressed."),
        (
            "out",
            "We're really sorry about the wait, {first}. Could you DM us your booking reference "
            "so we can look into it?",
        ),
        ("dm_in", "Booking AH-50912, I checked in around 11pm."),
        ("note", "Two receptionists off sick that night. Offer 15% off the stay."),
        (
            "dm_out",
            "Thanks {first}. We were short-staffed that night, which is no excuse. We've "
            "refunded 15% of your stay to your card.",
        ),
        ("dm_in", "That's fair, thank you."),
    ),
    "wedding": (
        ("in", "Hi! We're planning a wedding for about 80 guests next June. Do you do packages?"),
        (
            "out",
            "Congratulations, {first}! Yes: our events team has packages for 50-150 guests. "
            "May I pass your email to our wedding coordinator?",
        ),
        ("in", "Sure, it's the one on my profile."),
        ("note", "Passed to events (Hannah). Follow up if she hasn't replied by Friday."),
        ("out", "Done! Hannah from our events team will email you within two working days."),
    ),
}


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    kind: str
    handle: str = ""
    tier: str = ""
    notes: str = ""


CUSTOMERS = (
    DemoCustomer("Olivia Bennett", ChannelKind.MESSENGER, tier="Gold"),
    DemoCustomer("James Carter", ChannelKind.MESSENGER, notes="Prefers a quiet room."),
    DemoCustomer("Sophie Müller", ChannelKind.MESSENGER),
    DemoCustomer("Liam O'Connor", ChannelKind.MESSENGER),
    DemoCustomer("Amelia Novak", ChannelKind.MESSENGER, tier="Platinum"),
    DemoCustomer("Noah Schmidt", ChannelKind.MESSENGER),
    DemoCustomer("Isla Fraser", ChannelKind.MESSENGER),
    DemoCustomer("Lucas Moreau", ChannelKind.MESSENGER, tier="Silver"),
    DemoCustomer("Chloe Anderson", ChannelKind.MESSENGER),
    DemoCustomer("Ethan Patel", ChannelKind.MESSENGER),
    DemoCustomer("Grace Kim", ChannelKind.MESSENGER, notes="Wheelchair user."),
    DemoCustomer("Oscar Lindqvist", ChannelKind.MESSENGER, tier="Gold"),
    DemoCustomer("Mia Rossi", ChannelKind.MESSENGER),
    DemoCustomer("Harry Wilson", ChannelKind.MESSENGER),
    DemoCustomer("Zara Ahmed", ChannelKind.MESSENGER),
    DemoCustomer("Leo Dubois", ChannelKind.MESSENGER),
    DemoCustomer("Emily Clarke", ChannelKind.MESSENGER),
    DemoCustomer("Jack Murphy", ChannelKind.MESSENGER),
    DemoCustomer("Priya Shah", ChannelKind.TWITTER, handle="priyatravels"),
    DemoCustomer("Ben Hughes", ChannelKind.TWITTER, handle="benhughes_"),
    DemoCustomer("Hana Sato", ChannelKind.TWITTER, handle="hanasato"),
    DemoCustomer("Daniel Costa", ChannelKind.TWITTER, handle="dcosta"),
    DemoCustomer("Aisha Okafor", ChannelKind.TWITTER, handle="aishaokafor", tier="Gold"),
    DemoCustomer("Ryan Walsh", ChannelKind.TWITTER, handle="ryanwalsh"),
    DemoCustomer("Lucy Evans", ChannelKind.TWITTER, handle="lucyevans"),
    DemoCustomer("Marco Bianchi", ChannelKind.TWITTER, handle="marcobianchi"),
    DemoCustomer("Freya Jensen", ChannelKind.TWITTER, handle="freyajensen"),
    DemoCustomer("Omar Haddad", ChannelKind.TWITTER, handle="omarhaddad"),
    DemoCustomer("Nina Petrova", ChannelKind.TWITTER, handle="ninapetrova"),
    DemoCustomer("Charlie Brooks", ChannelKind.TWITTER, handle="charliebrooks"),
)

OPEN = ConversationStatus.OPEN
PENDING = ConversationStatus.PENDING
SNOOZED = ConversationStatus.SNOOZED
RESOLVED = ConversationStatus.RESOLVED


@dataclass(frozen=True)
class DemoConversation:
    """One conversation cycle. `steps` keeps only the script's first steps (an open thread
    stops where the customer is waiting); `ago` is how long ago its last message was sent."""

    customer: str
    script: str
    status: ConversationStatus
    ago: timedelta
    assignee: str | None = None
    priority: Priority = Priority.NORMAL
    public: bool = False
    steps: int | None = None
    snooze: timedelta | None = None
    reply_fails: bool = False


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


CONVERSATIONS = (
    # Messenger. Several open or pending threads are past the 24-hour window (human agent tag
    # only), and Harry Wilson's is past the 7-day one too.
    DemoConversation("Olivia Bennett", "breakfast", RESOLVED, _hours(9 * 24), MARIA),
    DemoConversation("Olivia Bennett", "late_checkout", OPEN, _hours(0.4), steps=1),
    DemoConversation("James Carter", "noise", OPEN, _hours(0.15), TOM, Priority.URGENT, steps=4),
    DemoConversation("Sophie Müller", "lost_item", PENDING, _hours(5), MARIA),
    DemoConversation("Liam O'Connor", "booking_change", RESOLVED, _hours(50), TOM),
    DemoConversation(
        "Amelia Novak", "double_charge", OPEN, _hours(0.7), MARIA, Priority.HIGH, steps=3
    ),
    DemoConversation("Noah Schmidt", "parking", PENDING, _hours(30), TOM, steps=2),
    DemoConversation(
        "Isla Fraser", "spa", SNOOZED, _hours(20), MARIA, Priority.LOW, snooze=_hours(40)
    ),
    DemoConversation(
        "Lucas Moreau", "airport_transfer", SNOOZED, _hours(8), TOM, snooze=_hours(20)
    ),
    DemoConversation("Chloe Anderson", "wifi", RESOLVED, _hours(75), TOM, Priority.LOW),
    DemoConversation("Ethan Patel", "birthday", PENDING, _hours(49), MARIA, steps=2),
    DemoConversation("Grace Kim", "accessibility", OPEN, _hours(3), None, Priority.HIGH, steps=1),
    DemoConversation("Oscar Lindqvist", "cleanliness", RESOLVED, _hours(146), TOM, Priority.URGENT),
    DemoConversation("Oscar Lindqvist", "restaurant", OPEN, _hours(1), TOM, steps=3),
    DemoConversation("Mia Rossi", "pets", OPEN, _hours(28), steps=1),
    DemoConversation(
        "Harry Wilson", "invoice", PENDING, _hours(8 * 24), TOM, Priority.LOW, steps=2
    ),
    DemoConversation("Zara Ahmed", "restaurant", OPEN, _hours(0.2), steps=1),
    DemoConversation("Leo Dubois", "parking", OPEN, _hours(2), MARIA, steps=2, reply_fails=True),
    DemoConversation("Emily Clarke", "spa", RESOLVED, _hours(98), MARIA),
    DemoConversation("Jack Murphy", "booking_change", OPEN, _hours(26), TOM, steps=1),
    # X: public mentions (and their public replies) and DMs.
    DemoConversation("Priya Shah", "praise", RESOLVED, _hours(120), public=True),
    DemoConversation(
        "Ben Hughes", "slow_checkin", RESOLVED, _hours(170), TOM, Priority.HIGH, public=True
    ),
    DemoConversation("Ben Hughes", "wifi", OPEN, _hours(0.8), public=True, steps=1),
    DemoConversation("Hana Sato", "wedding", SNOOZED, _hours(27), MARIA, snooze=_hours(72)),
    DemoConversation(
        "Daniel Costa", "noise", OPEN, _hours(0.25), None, Priority.HIGH, public=True, steps=1
    ),
    DemoConversation(
        "Aisha Okafor", "double_charge", PENDING, _hours(6), MARIA, Priority.HIGH, steps=2
    ),
    DemoConversation("Ryan Walsh", "parking", RESOLVED, _hours(52), TOM, public=True),
    DemoConversation("Lucy Evans", "accessibility", PENDING, _hours(20), MARIA),
    DemoConversation(
        "Marco Bianchi", "slow_checkin", OPEN, _hours(0.6), TOM, Priority.HIGH, public=True, steps=3
    ),
    DemoConversation("Freya Jensen", "airport_transfer", OPEN, _hours(2), steps=3),
    DemoConversation("Omar Haddad", "pets", RESOLVED, _hours(73), public=True),
    DemoConversation("Nina Petrova", "invoice", RESOLVED, _hours(23), TOM, Priority.LOW),
    DemoConversation(
        "Charlie Brooks", "praise", OPEN, _hours(4), None, Priority.LOW, public=True, steps=1
    ),
)


@dataclass(frozen=True)
class _Planned:
    conversation: DemoConversation
    customer: DemoCustomer
    steps: Script
    times: tuple[datetime, ...]


def _plan(rng: random.Random, now: datetime) -> list[_Planned]:
    """Each conversation's steps with their times, oldest conversation first (so conversation
    numbers follow the order customers wrote in)."""
    customers = {customer.name: customer for customer in CUSTOMERS}
    planned = []
    for conversation in CONVERSATIONS:
        steps = SCRIPTS[conversation.script][: conversation.steps]
        offsets = [timedelta(0)]
        for previous, (who, _) in itertools.pairwise(steps):
            if who == "note":
                gap = rng.randint(2, 25)
            elif who in ("out", "dm_out"):
                gap = rng.randint(3, 50)  # the agent's response time
            elif previous[0] in ("in", "dm_in"):
                gap = rng.randint(1, 5)  # the customer adds a line
            else:
                gap = rng.randint(10, 240)  # the customer answers the agent
            offsets.append(offsets[-1] + timedelta(minutes=gap))
        last_at = now - conversation.ago
        times = tuple(last_at - offsets[-1] + offset for offset in offsets)
        planned.append(_Planned(conversation, customers[conversation.customer], steps, times))
    return sorted(planned, key=lambda p: p.times[0])


class _Seeder:
    """Writes the planned conversations into one organization (inside its tenant scope)."""

    def __init__(self, organization: Organization, now: datetime) -> None:
        self.organization = organization
        self.now = now
        self.rng = random.Random(SEED)
        self.supervisor = Membership.objects.select_related("user").get(
            organization=organization, user__email=SUPERVISOR
        )
        self.users = {
            m.user.email: m.user
            for m in Membership.objects.select_related("user").filter(organization=organization)
        }
        self.inbound_count = 0
        self.outbound_count = 0
        self.customer_ids: dict[str, int] = {}

    def run(self, channels: dict[str, Channel]) -> None:
        for planned in _plan(self.rng, self.now):
            self._conversation(planned, channels[planned.customer.kind])
        for customer in CUSTOMERS:
            if customer.tier or customer.notes:
                customer_update(
                    organization=self.organization,
                    customer=Customer.objects.get(pk=self.customer_ids[customer.name]),
                    tier=customer.tier,
                    notes=customer.notes,
                )
        self._backdate()

    def _conversation(self, planned: _Planned, channel: Channel) -> None:
        plan, customer = planned.conversation, planned.customer
        platform_user_id = str(CUSTOMERS.index(customer) + 7_100_000_000_000_001)
        profile = Profile(display_name=customer.name, screen_name=customer.handle)
        visibility = Visibility.PUBLIC if plan.public else Visibility.PRIVATE
        agents = [self.users[MARIA], self.users[TOM], self.supervisor.user]
        author = self.users[plan.assignee] if plan.assignee else self.rng.choice(agents)
        last_reply = max(
            (i for i, (who, _) in enumerate(planned.steps) if who in ("out", "dm_out")),
            default=None,
        )
        conversation: Conversation | None = None
        for index, ((who, template), at) in enumerate(
            zip(planned.steps, planned.times, strict=True)
        ):
            step_visibility = Visibility.PRIVATE if who.startswith("dm_") else visibility
            text = self._text(template, customer, who, step_visibility)
            if who in ("in", "dm_in"):
                self.inbound_count += 1
                received = message_receive(
                    organization=self.organization,
                    channel=channel,
                    platform_user_id=platform_user_id,
                    external_id=f"demo-in-{self.inbound_count}",
                    text=text,
                    sent_at=at,
                    visibility=step_visibility,
                    profile=profile,
                )
                conversation = received.conversation
                conversation.channel = channel  # cached for reply_window, saves a query
                self.customer_ids[customer.name] = conversation.customer_id
                continue
            if conversation is None:
                raise ValueError(f"script {plan.script!r} must start with the customer")
            if who == "note":
                self._note(conversation, text, at, author)
                continue
            answered = any(w in ("in", "dm_in") for w, _ in planned.steps[index + 1 :])
            self._reply(
                conversation,
                text,
                at,
                author,
                step_visibility,
                answered=answered,
                fails=plan.reply_fails and index == last_reply,
            )
        if conversation is None:
            raise ValueError(f"script {plan.script!r} is empty")
        self._finish(conversation, plan, planned.times[-1])

    @staticmethod
    def _text(template: str, customer: DemoCustomer, who: Who, visibility: str) -> str:
        text = template.format(first=customer.name.split()[0])
        if visibility != Visibility.PUBLIC:
            return text
        if who == "in":
            return text if f"@{X_HANDLE}" in text else f"@{X_HANDLE} {text}"
        return f"@{customer.handle} {text}"

    def _reply(
        self,
        conversation: Conversation,
        text: str,
        at: datetime,
        author: User,
        visibility: str,
        *,
        answered: bool,
        fails: bool,
    ) -> None:
        """An agent's past reply, with the fields `message_send` and delivery would have set."""
        self.outbound_count += 1
        failure_code = failure_reason = ""
        external_id: str | None = f"demo-out-{self.outbound_count}"
        if fails:
            # The platform refused it, so it never got a platform id.
            status, external_id = MessageStatus.FAILED, None
            failure_code, failure_reason = "551", "This person isn't available right now."
        elif visibility == Visibility.PUBLIC:
            status = MessageStatus.SENT  # X reports no delivery or read for tweets
        elif answered:
            status = MessageStatus.READ
        else:
            status = self.rng.choice((MessageStatus.DELIVERED, MessageStatus.READ))
        Message.objects.create(
            organization=self.organization,
            conversation=conversation,
            channel=conversation.channel,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.MESSAGE,
            visibility=visibility,
            text=text,
            status=status,
            external_id=external_id,
            failure_code=failure_code,
            failure_reason=failure_reason,
            author=author,
            sent_at=at,
            created_at=at,
            metadata={"window": reply_window(conversation, now=at).state},
        )
        conversation.last_message_at = at
        conversation.last_message_preview = preview_of(text, ())
        conversation.waiting_since = None
        if conversation.first_response_at is None:
            conversation.first_response_at = at
        conversation.save(
            update_fields=[
                "last_message_at",
                "last_message_preview",
                "waiting_since",
                "first_response_at",
                "updated_at",
            ]
        )
        sla_reply(organization=self.organization, conversation=conversation, at=at)

    def _note(self, conversation: Conversation, text: str, at: datetime, author: User) -> None:
        """An internal note, as `note_add` writes it (it does not touch the conversation)."""
        Message.objects.create(
            organization=self.organization,
            conversation=conversation,
            channel=conversation.channel,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.NOTE,
            visibility=Visibility.PRIVATE,
            text=text,
            status=MessageStatus.SENT,
            author=author,
            sent_at=at,
            created_at=at,
        )

    def _finish(
        self, conversation: Conversation, plan: DemoConversation, last_at: datetime
    ) -> None:
        """Status, snooze, assignee and priority through the service, then the resolution time
        moved back to when it happened (the service stamps the present)."""
        updated = conversation_update(
            organization=self.organization,
            actor=self.supervisor,
            conversation=conversation,
            status=plan.status,
            snoozed_until=self.now + plan.snooze if plan.snooze else None,
            assignee_id=self.users[plan.assignee].pk if plan.assignee else None,
            priority=plan.priority,
        )
        if plan.status == RESOLVED:
            resolved_at = last_at + timedelta(minutes=self.rng.randint(5, 60))
            updated.resolved_at = min(resolved_at, self.now)
            updated.save(update_fields=["resolved_at", "updated_at"])
            # Resolving met the cycle's clocks now; it happened back then.
            SLAClock.objects.filter(
                conversation=updated, state=SLAClockState.MET, met_at__gt=updated.resolved_at
            ).update(met_at=updated.resolved_at)

    def _backdate(self) -> None:
        """Creation times follow the story rather than the moment the command ran, so lists
        and reports sorted or bucketed by creation agree with the message history."""
        Message.objects.update(created_at=F("sent_at"))
        first_message = Message.objects.filter(conversation=OuterRef("pk")).order_by("sent_at")
        Conversation.objects.update(created_at=Subquery(first_message.values("sent_at")[:1]))
        first_conversation = Conversation.objects.filter(customer=OuterRef("pk")).order_by(
            "created_at"
        )
        Customer.objects.update(created_at=Subquery(first_conversation.values("created_at")[:1]))
        customer = Customer.objects.filter(pk=OuterRef("customer_id"))
        CustomerIdentity.objects.update(created_at=Subquery(customer.values("created_at")[:1]))


@transaction.atomic
def seed_demo(*, now: datetime) -> Organization:
    """Create the demo organization with its people, channels and conversations.

    Precondition: no organization has the slug DEMO_SLUG. Raises the services' DomainError
    (e.g. ConflictError when a demo channel id is connected to another organization).
    Events are published after commit, like any other write.
    """
    admin = MEMBERS[0]
    organization, _ = organization_create(
        slug=DEMO_SLUG,
        name=DEMO_NAME,
        admin_email=admin.email,
        admin_password=DEMO_PASSWORD,
        time_zone=DEMO_TIME_ZONE,
    )
    # organization_create takes no name; an existing user keeps the name they have.
    User.objects.filter(email=admin.email, name="").update(name=admin.name)
    with tenant_scope(organization):
        for member in MEMBERS[1:]:
            member_create(
                organization=organization,
                email=member.email,
                password=DEMO_PASSWORD,
                role=member.role,
                name=member.name,
            )
        channels: dict[str, Channel] = {
            ChannelKind.MESSENGER: channel_create(
                organization=organization,
                kind=ChannelKind.MESSENGER,
                name=DEMO_NAME,
                external_id="1000000000000001",
                credentials={"page_access_token": "demo-page-token"},
                settings={"human_agent_approved": True},
            ),
            ChannelKind.TWITTER: channel_create(
                organization=organization,
                kind=ChannelKind.TWITTER,
                name=f"@{X_HANDLE}",
                external_id="2000000000000001",
                credentials={"access_token": "demo-x-token"},
            ),
        }
        _Seeder(organization, now).run(channels)
    return organization


class Command(BaseCommand):
    help = "Create the Acme Hotels demo organization with a lived-in inbox (runs once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off (the demo logins share a published password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            # `make run` seeds unconditionally; a production database must not get logins
            # whose password is printed here and in the source.
            self.stderr.write("DEBUG is off: demo data not created (use --force to create it).")
            return
        if Organization.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write(f"Demo organization {DEMO_NAME!r} already exists; nothing changed.")
        else:
            try:
                seed_demo(now=timezone.now())
            except DomainError as exc:
                raise command_error(exc) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created demo organization {DEMO_NAME!r}: {len(CUSTOMERS)} customers, "
                    f"{len(CONVERSATIONS)} conversations on Messenger and X."
                )
            )
        self.stdout.write(f"Sign in at {LOGIN_URL_HINT} (or wherever the server runs) as:")
        width = max(len(member.email) for member in MEMBERS)
        for member in MEMBERS:
            self.stdout.write(f"  {member.email:<{width}}  {DEMO_PASSWORD}  {member.role}")
