"""Synthetic patients and prescribers.

Names are common US names recombined at random, phone numbers use the 555-01xx range reserved
for fiction, and ages skew old because med-sync patients are mostly older adults on several
chronic drugs. Nothing here describes a real person.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from fhir_sync.datagen.model import Person, Practitioner

FEMALE = (
    "Mary", "Patricia", "Linda", "Barbara", "Elizabeth", "Jennifer", "Maria", "Susan",
    "Margaret", "Dorothy", "Lisa", "Nancy", "Karen", "Betty", "Helen", "Sandra", "Donna",
    "Carol", "Ruth", "Sharon", "Michelle", "Laura", "Sarah", "Kimberly", "Deborah", "Jessica",
    "Shirley", "Cynthia", "Angela", "Melissa", "Brenda", "Amy", "Anna", "Rebecca", "Virginia",
    "Kathleen", "Pamela", "Martha", "Debra", "Amanda", "Rosa", "Guadalupe", "Mei", "Aisha",
)  # fmt: skip
MALE = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Charles", "Joseph",
    "Thomas", "Christopher", "Daniel", "Paul", "Mark", "Donald", "George", "Kenneth", "Steven",
    "Edward", "Brian", "Ronald", "Anthony", "Kevin", "Jason", "Matthew", "Gary", "Timothy",
    "Jose", "Larry", "Jeffrey", "Frank", "Scott", "Eric", "Stephen", "Andrew", "Raymond",
    "Gregory", "Joshua", "Jerry", "Dennis", "Walter", "Luis", "Wei", "Omar",
)  # fmt: skip
FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen", "Patel", "Kim", "O'Brien",
)  # fmt: skip
STREETS = (
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main",
    "Church", "River", "Walnut", "Sunset", "Highland", "Franklin", "Jefferson", "Lincoln",
)  # fmt: skip
STREET_KINDS = ("St", "Ave", "Rd", "Dr", "Ln", "Ct", "Blvd")
# (city, state, ZIP prefix, UTC offset used for timestamps; DST is ignored on purpose).
PLACES = (
    ("Springfield", "MA", "011", "-05:00"),
    ("Worcester", "MA", "016", "-05:00"),
    ("Albany", "NY", "122", "-05:00"),
    ("Columbus", "OH", "432", "-05:00"),
    ("Raleigh", "NC", "276", "-05:00"),
    ("Tampa", "FL", "336", "-05:00"),
    ("Nashville", "TN", "372", "-06:00"),
    ("Madison", "WI", "537", "-06:00"),
    ("Tulsa", "OK", "741", "-06:00"),
    ("Austin", "TX", "787", "-06:00"),
    ("Denver", "CO", "802", "-07:00"),
    ("Albuquerque", "NM", "871", "-07:00"),
    ("Boise", "ID", "837", "-07:00"),
    ("Portland", "OR", "972", "-08:00"),
    ("Sacramento", "CA", "958", "-08:00"),
)
CREDENTIALS = ("MD", "MD", "MD", "DO", "NP", "PA-C")

PRACTITIONER_POOL = 240


def practitioners(seed: int) -> tuple[Practitioner, ...]:
    """A fixed pool per seed, so a patient's prescribers never depend on the dataset size."""
    rng = random.Random(f"fhir-sync-datagen/{seed}/practitioners")
    pool = []
    for number in range(1, PRACTITIONER_POOL + 1):
        given = rng.choice(FEMALE if rng.random() < 0.5 else MALE)
        family = rng.choice(FAMILY)
        pool.append(
            Practitioner(f"pr-{number:04d}", f"{given} {family}, {rng.choice(CREDENTIALS)}")
        )
    return tuple(pool)


def person(rng: random.Random, number: int, today: date) -> Person:
    """One adult patient; `number` (1-based) makes the id and MRN."""
    roll = rng.random()
    gender = (
        "female"
        if roll < 0.55
        else "male"
        if roll < 0.994
        else "other"
        if roll < 0.997
        else "unknown"
    )
    names = FEMALE if gender == "female" else MALE if gender == "male" else FEMALE + MALE
    given = (rng.choice(names),) if rng.random() < 0.6 else (rng.choice(names), rng.choice(names))
    age = min(96, max(19, round(rng.gauss(66, 13))))
    birth_date = today - timedelta(days=age * 365 + rng.randrange(365))
    city, state, zip_prefix, offset = rng.choice(PLACES)
    return Person(
        id=f"pt-{number:06d}",
        mrn=f"M{7_000_000 + number * 7 + rng.randrange(7):08d}",
        given=given,
        family=rng.choice(FAMILY),
        gender=gender,
        birth_date=birth_date,
        phone=f"555-01{rng.randrange(100):02d}",
        line=f"{rng.randrange(1, 9800)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
        city=city,
        state=state,
        postal_code=f"{zip_prefix}{rng.randrange(100):02d}",
        utc_offset=offset,
    )


def age_on(person: Person, day: date) -> int:
    """Completed years, for age limits in drug choice."""
    born = person.birth_date
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
