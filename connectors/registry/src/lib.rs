//! The registry of ERP connectors: one line per ERP.
