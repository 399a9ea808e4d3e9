"""Demo names the sample data is built from: the fictitious companies, people and products Microsoft uses in
its own demo data, plus a few Swedish ones so the localized export carries å/ä/ö.

Reserved names (never produced by the rotations below, used only by the deliberately bad rows in `dataset`):
"Northwind Traders" (two accounts: an ambiguous customer), "Wingtip Toys" (a customer that does not exist),
"Relecloud" (an account without an account number)."""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT_NAMES: tuple[str, ...] = (
    "Fourth Coffee",
    "Litware, Inc.",
    "Adventure Works",
    "Fabrikam, Inc.",
    "Contoso Pharmaceuticals",
    "Alpine Ski House",
    "A. Datum Corporation",
    "Blue Yonder Airlines",
    "City Power & Light",
    "Coho Winery",
    "Humongous Insurance",
    "Lucerne Publishing",
    "Margie's Travel",
    "Proseware, Inc.",
    "School of Fine Art",
    "Southridge Video",
    "Trey Research",
    "Wide World Importers",
    "Woodgrove Bank",
    "Tailspin Toys",
    "Consolidated Messenger",
    "Graphic Design Institute",
    "Nod Publishers",
    "VanArsdel, Ltd.",
    "Bellows College",
    "Best For You Organics Company",
    "Lamna Healthcare Company",
    "Munson's Pickles and Preserves Farm",
    'Café "Det Goda" AB',
    "Ödmans Bygg AB",
    "Kärnfrisk Juice AB",
    "Världens Bästa Cykel AB",
)

# Appended to an account name when the rotation above is used up, so names stay unique within a company.
BRANCHES: tuple[str, ...] = (
    "Seattle",
    "Redmond",
    "Chicago",
    "Atlanta",
    "London",
    "Manchester",
    "Stockholm",
    "Göteborg",
    "Malmö",
    "Dallas",
)

AMBIGUOUS_ACCOUNT_NAME = "Northwind Traders"
UNKNOWN_CUSTOMER_NAME = "Wingtip Toys"
ACCOUNT_WITHOUT_NUMBER_NAME = "Relecloud"


@dataclass(frozen=True)
class CompanyProfile:
    """What differs between the two legal entities of the sample."""

    code: str
    number: int  # mixed into every random draw so the two companies differ
    currency: str  # the currency record's name: lookups export names
    price_list: str
    country_name: str
    country_codes: tuple[str, str]  # how Ship To Country/Region was typed: ISO code and full name
    cities: tuple[tuple[str, str], ...]  # (city, postal code)
    streets: tuple[str, ...]
    phone_prefix: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    name_offset: int  # rotates ACCOUNT_NAMES so the same account number names a different company


USMF = CompanyProfile(
    code="USMF",
    number=1,
    currency="US Dollar",
    price_list="USMF Standard Prices",
    country_name="United States",
    country_codes=("US", "United States"),
    cities=(("Seattle", "98101"), ("Redmond", "98052"), ("Chicago", "60601"), ("Atlanta", "30303")),
    streets=(
        "1 Microsoft Way",
        "123 Pike Street",
        "500 Lake Shore Drive",
        "77 Peachtree Road",
        "9 Main Street",
    ),
    phone_prefix="+1 425 555",
    first_names=(
        "Yvonne",
        "Paul",
        "Maria",
        "Nancy",
        "Susan",
        "Rene",
        "Patrick",
        "Sidney",
        "Thomas",
        "Jim",
        "Scott",
        "Cathan",
        "Robert",
        "Anne",
        "Julian",
        "Michelle",
        "Janet",
        "Kevin",
        "Alberto",
        "Christa",
    ),
    last_names=(
        "McKay",
        "Cannon",
        "Campbell",
        "Anderson",
        "Burk",
        "Valdes",
        "Sands",
        "Higa",
        "Andersen",
        "Glynn",
        "Konersmann",
        "Cook",
        "Lyon",
        "Weber",
        "Isla",
        "Rivera",
        "Pauli",
        "Brown",
        "Gil",
        "Geller",
    ),
    name_offset=0,
)

GBSI = CompanyProfile(
    code="GBSI",
    number=2,
    currency="Pound Sterling",
    price_list="GBSI Standardpriser",
    country_name="United Kingdom",
    country_codes=("GB", "United Kingdom"),
    cities=(
        ("London", "EC1A 1BB"),
        ("Manchester", "M1 1AE"),
        ("Stockholm", "111 52"),
        ("Göteborg", "411 05"),
    ),
    streets=("Kungsgatan 12", "Drottninggatan 5", "221B Baker Street", "Storgatan 3", "Vasagatan 28"),
    phone_prefix="+44 20 7946",
    first_names=(
        "Åsa",
        "Björn",
        "Linnéa",
        "Göran",
        "Sofia",
        "Emil",
        "Ingrid",
        "Oliver",
        "Karin",
        "Henrik",
        "Elin",
        "Magnus",
        "Maja",
        "Lars",
        "Hanna",
        "Jonas",
        "Astrid",
        "Nils",
        "Freja",
        "Olof",
    ),
    last_names=(
        "Lindström",
        "Öberg",
        "Johansson",
        "Smith",
        "Nilsson",
        "Åkesson",
        "Eriksson",
        "Taylor",
        "Bergqvist",
        "Jones",
        "Sjöberg",
        "Larsson",
        "Wilson",
        "Holm",
        "Ekström",
        "Evans",
        "Lund",
        "Brown",
        "Dahl",
        "Persson",
    ),
    name_offset=11,
)

COMPANIES: tuple[CompanyProfile, ...] = (USMF, GBSI)


@dataclass(frozen=True)
class CatalogItem:
    prefix: str  # product numbers look like F&O's: prefix + running number
    name: str
    unit: str
    product_type: int  # producttypecode: 1 Sales Inventory, 3 Services
    list_price: float


# Names are kept to Windows-1252 characters: one export is written in that code page (the € is 0x80 there).
PRODUCTS: tuple[CatalogItem, ...] = (
    CatalogItem("D", "Mid-Range Speaker", "ea", 1, 189.00),
    CatalogItem("D", "High-End Speaker", "ea", 1, 749.50),
    CatalogItem("D", "Car Audio System", "ea", 1, 1299.00),
    CatalogItem("D", "Projector Television", "ea", 1, 2399.99),
    CatalogItem("D", "Home Theater System – Deluxe", "ea", 1, 3450.00),
    CatalogItem("M", "Surround Sound Receiver", "ea", 1, 529.00),
    CatalogItem("M", "Café Table, Oak", "ea", 1, 240.00),
    CatalogItem("M", "Smörgåsbord Serving Tray", "pcs", 1, 35.90),
    CatalogItem("M", "Gift Card 50 €", "ea", 1, 50.00),
    CatalogItem("M", "Crème Brûlée Torch", "ea", 1, 24.75),
    CatalogItem("S", "Installation Service", "hr", 3, 95.00),
    CatalogItem("S", "Extended Warranty, 3 Years", "ea", 3, 149.00),
)

PRODUCT_VARIANTS: tuple[str, ...] = ("Black", "White", "Silver", "Walnut", "Blå", "Röd")

ORDER_TOPICS: tuple[str, ...] = (
    "Store refit",
    "Spring campaign",
    "Replacement parts",
    "New office",
    "Trade show",
    "Quarterly restock",
)
