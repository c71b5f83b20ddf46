//! The connector contract and the governed engine every ERP request goes through.
