//! Native NetSuite connector and a simulator that speaks its wire protocol.

pub mod auth;
pub mod client;
pub mod simulator;
