//! Native Sage Intacct connector and a simulator that speaks its wire protocol.
