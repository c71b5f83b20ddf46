//! Native SAP Business One connector and a simulator that speaks its wire protocol.

pub mod multipart;
pub mod simulator;
