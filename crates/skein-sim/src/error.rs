//! The one error type of this crate: what was wrong with a simulation request.

use thiserror::Error;

/// Why a simulation could not be set up. Failures found *by* a simulation are
/// not errors: they are [`crate::check::Verdict`]s in the report.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SimError {
    #[error("unknown service `{0}`; run `skein sim --list` to see the services")]
    UnknownService(String),
    #[error("unknown fault kind `{0}`; use a comma list of: {1}")]
    UnknownFault(String, String),
    #[error("unknown Byzantine behaviour `{0}`; known: {1}")]
    UnknownBehaviour(String, String),
    #[error("service `{service}` has no injectable bug `{bug}`; known: {known}")]
    UnknownBug {
        service: String,
        bug: String,
        known: String,
    },
    #[error("{0} nodes requested; a simulation runs between 1 and {1} nodes")]
    NodeCount(u16, u16),
    #[error("Byzantine node {0} is not a member (members are 1..={1})")]
    NoSuchNode(u16, u16),
    #[error("invalid setting: {0}")]
    Invalid(String),
}
