//! The error every parser returns: BIRD's own error reply, or the line that could not be
//! understood, with its number and text.

use crate::parse::reply::{BirdError, Line};

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

/// The lines a parser could not understand and left out, where leaving a line out is safe
/// (it costs that line's value, not the reply's): how many, and the first as an example. A
/// count that is not zero usually means a BIRD whose output format is new to nodestatus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unrecognised {
    /// How many lines were left out.
    pub count: usize,
    /// The first one, with its number and why.
    pub first: Option<ParseError>,
}

impl Unrecognised {
    pub(crate) fn record(&mut self, error: ParseError) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(error);
        }
    }

    /// True when every line was understood.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl std::fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.first {
            Some(first) => write!(
                f,
                "{} unrecognised line(s) left out, the first: {first}",
                self.count
            ),
            None => f.write_str("every line recognised"),
        }
    }
}
