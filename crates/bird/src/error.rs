//! The error every parser returns: BIRD's own error reply, or the line that could not be
//! understood, with its number and text.

use crate::reply::{BirdError, Line};

/// A reply could not be turned into typed values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// BIRD answered with an error reply instead of data.
    #[error(transparent)]
    Bird(#[from] BirdError),
    /// A line sits where a row must be but does not follow BIRD's grammar.
    #[error("line {line}: {reason}: {text:?}")]
    Line {
        /// 1-based line number in the reply (or capture).
        line: usize,
        /// What was expected.
        reason: &'static str,
        /// The line's text after its code.
        text: String,
    },
    /// A line the reply must contain is absent.
    #[error("reply has no {0}")]
    Missing(&'static str),
}

impl ParseError {
    pub(crate) fn at(line: &Line<'_>, reason: &'static str) -> Self {
        Self::Line {
            line: line.number,
            reason,
            text: line.text.to_owned(),
        }
    }
}
