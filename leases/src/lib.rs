//! PostgreSQL-backed account-slot leases for the connector governor.
