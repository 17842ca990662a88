"""The sample network: depots, zones, couriers and an address book around London."""

import math
import random
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8

# (depot_id, name, lat, lon)
DEPOTS = (
    ("DEP-PRK", "Park Royal", 51.5290, -0.2750),
    ("DEP-BOW", "Bow", 51.5300, -0.0200),
    ("DEP-CRY", "Croydon", 51.3750, -0.1000),
)
# (zone_id, depot_id, outward postcode, centre lat, centre lon, share of orders)
ZONES = (
    ("Z-NW10", "DEP-PRK", "NW10", 51.5470, -0.2380, 0.15),
    ("Z-W3", "DEP-PRK", "W3", 51.5080, -0.2700, 0.12),
    ("Z-HA0", "DEP-PRK", "HA0", 51.5530, -0.2980, 0.10),
    ("Z-E3", "DEP-BOW", "E3", 51.5290, -0.0240, 0.14),
    ("Z-E14", "DEP-BOW", "E14", 51.5080, -0.0170, 0.16),
    ("Z-E15", "DEP-BOW", "E15", 51.5410, 0.0000, 0.11),
    ("Z-CR0", "DEP-CRY", "CR0", 51.3720, -0.0990, 0.13),
    ("Z-SE25", "DEP-CRY", "SE25", 51.3990, -0.0750, 0.09),
)
STREETS = (
    "High Street",
    "Church Road",
    "Station Road",
    "Victoria Road",
    "Park Road",
    "Green Lane",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "Albert Road",
    "Mill Lane",
    "The Avenue",
    "Grove Road",
    "Springfield Road",
    "Stanley Road",
    "Alexandra Road",
    "Richmond Road",
    "York Road",
    "Chestnut Close",
    "Willow Walk",
    "Cedar Grove",
    "Elm Park Gardens",
    "Oakfield Road",
    "Beech Way",
    "St John's Road",
    "St Mary's Close",
    "Harrow Road",
    "Mile End Road",
    "Roman Road",
    "Bow Common Lane",
    "Cambridge Road",
    "Brook Street",
    "Meadow View",
    "Orchard Place",
    "Ashburnham Grove",
    "Thornton Way",
    "Lonsdale Avenue",
    "Fairfield Drive",
    "Rosebery Avenue",
    "Wellington Street",
)
FIRST_NAMES = (
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Priya",
    "Mohammed",
    "Fatima",
    "Chen",
    "Aisha",
    "Tomasz",
    "Zofia",
    "Kwame",
    "Ngozi",
    "Sean",
    "Siobhan",
    "Lucas",
    "Sofia",
    "Hannah",
    "Jack",
    "Ella",
    "Raj",
    "Yusuf",
    "Grace",
    "Daniel",
)
LAST_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Khan",
    "Patel",
    "Ahmed",
    "Evans",
    "Walker",
    "Wright",
    "Nowak",
    "Mensah",
    "Okafor",
    "Murphy",
    "Kelly",
    "Silva",
    "Chen",
    "Davies",
    "Hughes",
    "Green",
    "Ali",
    "Clarke",
    "Hall",
    "Singh",
    "O'Brien",
    "Wood",
    "Lewis",
    "Turner",
)
NUMBERS_PER_STREET = 160
STREETS_PER_ZONE = 24


def offset(lat: float, lon: float, distance_m: float, bearing: float) -> tuple[float, float]:
    """The point `distance_m` from (lat, lon) along `bearing` (radians), on the contract's sphere."""
    d = distance_m / EARTH_RADIUS_M
    la, lo = math.radians(lat), math.radians(lon)
    la2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(bearing))
    lo2 = lo + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(la), math.cos(d) - math.sin(la) * math.sin(la2))
    return math.degrees(la2), math.degrees(lo2)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Street:
    name: str
    lat: float
    lon: float
    bearing: float
    inward: tuple[str, ...]  # one inward postcode per block of 20 house numbers


@dataclass(frozen=True)
class Courier:
    courier_id: str
    zone_id: str
    shift_start_h: float
    shift_end_h: float


@dataclass(frozen=True)
class Zone:
    zone_id: str
    depot_id: str
    outward: str
    lat: float
    lon: float
    share: float
    streets: tuple[Street, ...]
    couriers: tuple[Courier, ...]


@dataclass(frozen=True)
class Address:
    address_line: str
    postcode: str
    lat: float
    lon: float


class Network:
    """Depots, zones with their streets, and couriers with shifts, all drawn from one seed."""

    def __init__(self, seed: int, orders_per_day: int) -> None:
        rng = random.Random(f"{seed}:network")
        self.depots = {d[0]: (d[2], d[3]) for d in DEPOTS}
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        zones = []
        for zi, (zone_id, depot_id, outward, lat, lon, share) in enumerate(ZONES):
            names = rng.sample(STREETS, STREETS_PER_ZONE)
            streets = []
            for name in names:
                slat, slon = offset(lat, lon, rng.uniform(100, 1800), rng.uniform(0, 2 * math.pi))
                inward = tuple(
                    f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
                    for _ in range(NUMBERS_PER_STREET // 20 + 1)
                )
                streets.append(Street(name, slat, slon, rng.uniform(0, 2 * math.pi), inward))
            per_day = orders_per_day * share
            n_couriers = max(1, math.ceil(per_day / 90))
            couriers = tuple(
                Courier(f"C{zi + 1:02d}{ci + 1:02d}", zone_id, *((7.0, 16.0) if ci % 3 != 2 else (10.0, 19.0)))
                for ci in range(n_couriers)
            )
            zones.append(Zone(zone_id, depot_id, outward, lat, lon, share, tuple(streets), couriers))
        self.zones = tuple(zones)
        self.zone_weights = [z.share for z in self.zones]
        self.couriers = [c for z in self.zones for c in z.couriers]

    def address(self, zone: Zone, street_index: int, number: int) -> Address:
        street = zone.streets[street_index % len(zone.streets)]
        lat, lon = offset(street.lat, street.lon, number * 9.0, street.bearing)
        postcode = f"{zone.outward} {street.inward[min(number // 20, len(street.inward) - 1)]}"
        return Address(f"{number} {street.name}", postcode, round(lat, 6), round(lon, 6))

    def random_address(self, rng: random.Random, zone: Zone) -> Address:
        return self.address(zone, rng.randrange(len(zone.streets)), rng.randint(1, NUMBERS_PER_STREET))

    def describe(self) -> dict[str, object]:
        return {
            "city": "London",
            "depots": [{"depot_id": d[0], "name": d[1], "lat": d[2], "lon": d[3]} for d in DEPOTS],
            "zones": [{"zone_id": z.zone_id, "depot_id": z.depot_id, "postcode_area": z.outward} for z in self.zones],
            "couriers": [
                {
                    "courier_id": c.courier_id,
                    "zone_id": c.zone_id,
                    "shift": f"{int(c.shift_start_h):02d}:00-{int(c.shift_end_h):02d}:00",
                }
                for c in self.couriers
            ],
        }
