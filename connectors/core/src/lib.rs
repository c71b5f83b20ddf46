//! The connector contract and the governed engine every ERP request goes through.
//!
//! * [`contract`]: ERPs declared as data, the `ErpConnector` and `Connection` traits.
//! * [`secret`]: credentials that redact themselves and cannot be serialized by accident.
//! * [`error`]: `ConnectorError`, a code from the closed list plus context.
//! * [`engine`]: the one HTTP path (governor, timeouts, classification, retries, tracing).
//! * [`governor`]: per-account concurrency slots and rate budgets.
//! * [`session`]: login sessions with single-flight login and refresh before idle timeout.
//! * [`sim`]: scenario files and the simulator trait; [`clock`]: real and test clocks.
//! * [`conformance`]: the suite every connector runs against its simulator.
//!
//! See API.md in this crate for how an ERP crate uses all of this.

pub mod clock;
pub mod conformance;
pub mod contract;
pub mod engine;
pub mod error;
pub mod governor;
pub mod netguard;
pub mod secret;
pub mod session;
pub mod sim;

pub use clock::{Clock, SharedClock, SystemClock, TestClock};
pub use contract::{
    validate_base_url, ApprovalStatus, Capabilities, ChangeEvent, Changes, CheckReport, Connection,
    ConnectionConfig, CredentialKind, Cursor, ErpConnector, ErpDeclaration, FieldSpec, ItemOutcome,
    ItemResult, Page, ReadRequest, UrlPolicy, WriteBatch, WriteItem, WriteOp,
};
pub use engine::{
    classify_by_status, Classifier, Engine, EngineConfig, MetricsSnapshot, Rejection, Request,
    RequestContext, Response, RetryPolicy, Signer,
};
pub use error::{ConnectorError, ErrorContext};
pub use governor::{
    AccountKey, AccountLimits, Governor, InProcessGovernor, Outcome, Permit, RateMode,
};
pub use secrecy::{ExposeSecret, SecretString};
pub use secret::Credentials;
pub use session::{Session, SessionKey, SessionLease, SessionPool};
pub use sim::{ErpSimulator, Scenario, ScenarioError, ScenarioSection, SimControl, SimInstance};

// Re-exported so ERP crates use the same versions as the contract.
pub use async_trait::async_trait;
pub use domain;
