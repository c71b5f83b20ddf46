//! Native Sage Intacct connector and a simulator that speaks its wire protocol.

pub mod protocol;
pub mod simulator;
pub mod xml;
