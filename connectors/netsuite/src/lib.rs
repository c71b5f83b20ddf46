//! Native NetSuite connector and a simulator that speaks its wire protocol.
