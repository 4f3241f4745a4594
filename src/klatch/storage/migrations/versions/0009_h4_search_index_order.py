"""Search: every attribute index also holds its klass's order column.

An attribute's index was ``(org_id, <value>, id)``; it is now ``(org_id, <value>,
<order column>, id)`` (``updated_at``; a message's ``created_at``): an equality is
read from the index already in the default order, and the matches of a range are
sorted from the index alone, without reading a record that is not shown (see
``klatch.storage.search``). The indexes of the old shape are dropped and those of
the new one built for the definitions that exist, without CONCURRENTLY (a
migration runs in a transaction, before serving).
"""

from __future__ import annotations

from klatch.storage.migrations._ddl import create_attribute_indexes, drop_attribute_indexes

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    drop_attribute_indexes()
    create_attribute_indexes()


def downgrade() -> None:
    # The new indexes serve the old code too; they are left as they are.
    pass
