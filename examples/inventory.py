"""A warehouse inventory: items, stock movements, reorder points and reports.

Sample code for trying localroute on a file larger than a small model's context window:
`localroute review examples/` reviews it in parts. It has a few mistakes of the kind a
review should catch.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    sku: str
    name: str
    unit_cost: float
    reorder_point: int = 0
    reorder_quantity: int = 0
    supplier: str = ""
    tags: list[str] = field(default_factory=list)

    def label(self) -> str:
        return f"{self.sku} {self.name}"


@dataclass
class Movement:
    sku: str
    quantity: int
    """Positive when goods arrive, negative when they leave."""
    when: dt.datetime
    reason: str = ""
    unit_cost: float | None = None


class UnknownItem(KeyError):
    pass


class Inventory:
    """Items and the movements of their stock, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.movements: list[Movement] = []
        self._on_hand: dict[str, int] = defaultdict(int)

    # -- items ---------------------------------------------------------------------------

    def add_item(self, item: Item) -> None:
        if item.sku in self.items:
            raise ValueError(f"duplicate SKU {item.sku}")
        self.items[item.sku] = item

    def item(self, sku: str) -> Item:
        try:
            return self.items[sku]
        except KeyError:
            raise UnknownItem(sku) from None

    def find(self, text: str) -> list[Item]:
        text = text.lower()
        return [
            item
            for item in self.items.values()
            if text in item.name.lower() or text in item.sku.lower()
        ]

    def tagged(self, tag: str) -> list[Item]:
        return [item for item in self.items.values() if tag in item.tags]

    # -- stock ---------------------------------------------------------------------------

    def receive(self, sku: str, quantity: int, unit_cost: float, reason: str = "") -> None:
        if quantity <= 0:
            raise ValueError("a delivery brings a positive quantity")
        self.item(sku)
        self._record(Movement(sku, quantity, dt.datetime.now(), reason, unit_cost))

    def ship(self, sku: str, quantity: int, reason: str = "") -> None:
        if quantity <= 0:
            raise ValueError("a shipment takes a positive quantity")
        if self.on_hand(sku) < quantity:
            raise ValueError(f"only {self.on_hand(sku)} of {sku} on hand")
        self._record(Movement(sku, -quantity, dt.datetime.now(), reason))

    def adjust(self, sku: str, counted: int, reason: str = "stock count") -> int:
        """Set the stock to what was counted; returns the difference recorded."""
        difference = counted - self.on_hand(sku)
        if difference:
            self._record(Movement(sku, difference, dt.datetime.now(), reason))
        return difference

    def _record(self, movement: Movement) -> None:
        self.movements.append(movement)
        self._on_hand[movement.sku] += movement.quantity

    def on_hand(self, sku: str) -> int:
        return self._on_hand[sku]

    def value(self, sku: str) -> float:
        return self.on_hand(sku) * self.average_cost(sku)

    def average_cost(self, sku: str) -> float:
        """The weighted average cost of what was received."""
        received = [m for m in self.movements if m.sku == sku and m.quantity > 0]
        total = sum(m.quantity * (m.unit_cost or 0.0) for m in received)
        return total / sum(m.quantity for m in received)

    def total_value(self) -> float:
        return sum(self.value(sku) for sku in self.items if self.on_hand(sku))

    # -- reordering ----------------------------------------------------------------------

    def below_reorder_point(self) -> list[Item]:
        return [
            item
            for item in self.items.values()
            if item.reorder_point and self.on_hand(item.sku) < item.reorder_point
        ]

    def purchase_orders(self) -> dict[str, list[tuple[str, int]]]:
        """What to order from each supplier: (SKU, quantity) pairs."""
        orders: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for item in self.below_reorder_point():
            quantity = max(item.reorder_quantity, item.reorder_point - self.on_hand(item.sku))
            orders[item.supplier or "unknown"].append((item.sku, quantity))
        return dict(orders)

    def days_of_cover(self, sku: str, days: int = 30) -> float:
        """How many days the stock lasts at the rate it left over the last ``days`` days."""
        since = dt.datetime.now() - dt.timedelta(days=days)
        shipped = -sum(
            m.quantity for m in self.movements if m.sku == sku and m.quantity < 0 and m.when > since
        )
        if shipped == 0:
            return float("inf")
        return self.on_hand(sku) / (shipped / days)

    # -- history -------------------------------------------------------------------------

    def history(self, sku: str, page: int = 1, per_page: int = 20) -> list[Movement]:
        """One page of an item's movements, newest first; pages start at 1."""
        moves = sorted(
            (m for m in self.movements if m.sku == sku), key=lambda m: m.when, reverse=True
        )
        start = page * per_page
        return moves[start : start + per_page]

    def movements_between(self, start: dt.date, end: dt.date) -> list[Movement]:
        return [m for m in self.movements if start <= m.when.date() <= end]

    def shipped_by_month(self, sku: str) -> dict[str, int]:
        months: dict[str, int] = defaultdict(int)
        for movement in self.movements:
            if movement.sku == sku and movement.quantity < 0:
                months[movement.when.strftime("%Y-%m")] -= movement.quantity
        return dict(sorted(months.items()))


# -- files -----------------------------------------------------------------------------------


def load_items(path: Path) -> list[Item]:
    """Items from a CSV file with the columns sku, name, unit_cost, reorder_point,
    reorder_quantity, supplier and tags (separated by `;`)."""
    items = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            items.append(
                Item(
                    sku=row["sku"].strip(),
                    name=row["name"].strip(),
                    unit_cost=float(row["unit_cost"]),
                    reorder_point=int(row.get("reorder_point") or 0),
                    reorder_quantity=int(row.get("reorder_quantity") or 0),
                    supplier=(row.get("supplier") or "").strip(),
                    tags=[t.strip() for t in (row.get("tags") or "").split(";") if t.strip()],
                )
            )
    return items


def save_items(items: list[Item], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["sku", "name", "unit_cost", "reorder_point", "reorder_quantity", "supplier", "tags"]
        )
        for item in items:
            writer.writerow(
                [
                    item.sku,
                    item.name,
                    f"{item.unit_cost:.2f}",
                    item.reorder_point,
                    item.reorder_quantity,
                    item.supplier,
                    ";".join(item.tags),
                ]
            )


def load_movements(path: Path) -> list[Movement]:
    """Movements from a JSON Lines file, one object per line."""
    movements = []
    handle = open(path, encoding="utf-8")
    for line in handle:
        if not line.strip():
            continue
        data = json.loads(line)
        movements.append(
            Movement(
                sku=data["sku"],
                quantity=int(data["quantity"]),
                when=dt.datetime.fromisoformat(data["when"]),
                reason=data.get("reason", ""),
                unit_cost=data.get("unit_cost"),
            )
        )
    return movements


def save_movements(movements: list[Movement], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for m in movements:
            record = {
                "sku": m.sku,
                "quantity": m.quantity,
                "when": m.when.isoformat(),
                "reason": m.reason,
                "unit_cost": m.unit_cost,
            }
            handle.write(json.dumps(record) + "\n")


# -- the database ----------------------------------------------------------------------------


def open_database(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, name TEXT, unit_cost REAL,"
        " reorder_point INTEGER, reorder_quantity INTEGER, supplier TEXT)"
    )
    connection.execute(
        "CREATE TABLE IF NOT EXISTS movements (sku TEXT, quantity INTEGER, at TEXT, reason TEXT,"
        " unit_cost REAL)"
    )
    return connection


def store(inventory: Inventory, connection: sqlite3.Connection) -> None:
    with connection:
        connection.executemany(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?)",
            [
                (i.sku, i.name, i.unit_cost, i.reorder_point, i.reorder_quantity, i.supplier)
                for i in inventory.items.values()
            ],
        )
        connection.executemany(
            "INSERT INTO movements VALUES (?, ?, ?, ?, ?)",
            [
                (m.sku, m.quantity, m.when.isoformat(), m.reason, m.unit_cost)
                for m in inventory.movements
            ],
        )


def items_from_supplier(connection: sqlite3.Connection, supplier: str) -> list[tuple[str, str]]:
    query = f"SELECT sku, name FROM items WHERE supplier = '{supplier}' ORDER BY sku"
    return list(connection.execute(query))


# -- reports ---------------------------------------------------------------------------------


def stock_report(inventory: Inventory) -> str:
    lines = [f"{'SKU':<10} {'item':<30} {'on hand':>8} {'value':>10}"]
    for item in sorted(inventory.items.values(), key=lambda i: i.sku):
        on_hand = inventory.on_hand(item.sku)
        value = inventory.value(item.sku) if on_hand else 0.0
        lines.append(f"{item.sku:<10} {item.name[:30]:<30} {on_hand:>8} {value:>10.2f}")
    lines.append(f"{'':<10} {'total':<30} {'':>8} {inventory.total_value():>10.2f}")
    return "\n".join(lines)


def reorder_report(inventory: Inventory) -> str:
    orders = inventory.purchase_orders()
    if not orders:
        return "Nothing to reorder."
    lines = []
    for supplier, entries in sorted(orders.items()):
        lines.append(f"{supplier}:")
        for sku, quantity in entries:
            lines.append(f"  {quantity:>5} x {inventory.item(sku).label()}")
    return "\n".join(lines)


def slow_movers(inventory: Inventory, days: int = 90) -> list[Item]:
    """Items in stock that nothing left of in the last ``days`` days."""
    since = dt.datetime.now() - dt.timedelta(days=days)
    moved = {m.sku for m in inventory.movements if m.quantity < 0 and m.when > since}
    return [i for i in inventory.items.values() if inventory.on_hand(i.sku) and i.sku not in moved]


def main(folder: Path) -> None:
    inventory = Inventory()
    for item in load_items(folder / "items.csv"):
        inventory.add_item(item)
    for movement in load_movements(folder / "movements.jsonl"):
        inventory._record(movement)
    print(stock_report(inventory))
    print()
    print(reorder_report(inventory))
