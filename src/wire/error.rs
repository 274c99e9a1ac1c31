use thiserror::Error;

/// Why a wire structure could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireErrorKind {
    #[error("truncated: need {need} bytes, {have} left")]
    Truncated { need: usize, have: usize },
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("length {len} exceeds limit {max}")]
    TooLong { len: usize, max: usize },
}

/// A parse failure: what field, at which byte offset of the outermost buffer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} at offset {offset}: {kind}")]
pub struct WireError {
    pub what: &'static str,
    pub offset: usize,
    pub kind: WireErrorKind,
}

impl WireError {
    pub fn new(what: &'static str, offset: usize, kind: WireErrorKind) -> Self {
        Self { what, offset, kind }
    }
    pub fn invalid(what: &'static str, offset: usize, why: impl Into<String>) -> Self {
        Self::new(what, offset, WireErrorKind::Invalid(why.into()))
    }
    pub fn unsupported(what: &'static str, offset: usize, why: impl Into<String>) -> Self {
        Self::new(what, offset, WireErrorKind::Unsupported(why.into()))
    }
    /// Shift the offset when a nested buffer was parsed on its own (e.g. a gunzipped payload).
    pub fn at_base(mut self, base: usize) -> Self {
        self.offset += base;
        self
    }
    /// A short stable label for metrics (`reason` label values).
    pub fn reason(&self) -> &'static str {
        match self.kind {
            WireErrorKind::Truncated { .. } => "truncated",
            WireErrorKind::Invalid(_) => "invalid",
            WireErrorKind::Unsupported(_) => "unsupported",
            WireErrorKind::Trailing(_) => "trailing",
            WireErrorKind::TooLong { .. } => "too_long",
        }
    }
}
