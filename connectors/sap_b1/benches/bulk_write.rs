//! Placeholder created by the lead so the workspace parses; replace freely.
fn main() {}
