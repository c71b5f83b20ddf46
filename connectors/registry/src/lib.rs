//! The registry of ERP connectors: one line per ERP. The UI catalog, the simulator server,
//! the operator CLI and the conformance runs iterate over [`ERPS`].

pub mod cli;

use connector_core::{ErpConnector, ErpSimulator};
use domain::ErpKind;

/// One registered ERP: its connector and its simulator.
#[derive(Clone, Copy)]
pub struct Entry {
    pub kind: ErpKind,
    pub connector: fn() -> &'static dyn ErpConnector,
    pub simulator: fn() -> &'static dyn ErpSimulator,
}

/// Every ERP Switchyard speaks, one line each.
///
/// A new ERP adds one line here and exposes `connector()` and `simulator()`
/// (connectors/core/API.md section 1); the layout test fails until both are done.
pub static ERPS: &[Entry] = &[
    Entry {
        kind: ErpKind::Netsuite,
        connector: connector_netsuite::connector,
        simulator: connector_netsuite::simulator,
    },
    Entry {
        kind: ErpKind::SapB1,
        connector: connector_sap_b1::connector,
        simulator: connector_sap_b1::simulator,
    },
    Entry {
        kind: ErpKind::Intacct,
        connector: connector_intacct::connector,
        simulator: connector_intacct::simulator,
    },
];

/// The registered entry of an ERP.
pub fn entry(kind: ErpKind) -> Option<&'static Entry> {
    ERPS.iter().find(|e| e.kind == kind)
}

/// The connector of an ERP, when registered.
pub fn connector(kind: ErpKind) -> Option<&'static dyn ErpConnector> {
    entry(kind).map(|e| (e.connector)())
}

/// The declarations of every registered ERP, for the UI catalog.
pub fn declarations() -> Vec<&'static connector_core::ErpDeclaration> {
    ERPS.iter().map(|e| (e.connector)().declaration()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_agree_with_their_crates() {
        let mut seen = std::collections::BTreeSet::new();
        for e in ERPS {
            assert!(seen.insert(e.kind), "{} registered twice", e.kind);
            assert_eq!((e.connector)().declaration().kind, e.kind);
            assert_eq!((e.simulator)().kind(), e.kind);
        }
    }
}
