//! Trace context across processes: the W3C `traceparent` header.
//!
//! A [`RegionClient`](crate::RegionClient) call draws one trace id and
//! sends it with every attempt (retries included, each attempt its own
//! span id), so one logical operation keeps one id from the caller through
//! whichever replica answered. `regiond` reads the header into its per-call
//! `api` span (`trace_id` field); that span records the command id and the
//! log index the command applied at, and every replica's `apply` span
//! records the indexes it applied: client → leader → apply, joined by ids.
//! Only the trace and span ids travel; sampling flags are always "sampled".

use std::fmt;

/// The metadata key carrying the context.
pub const TRACEPARENT: &str = "traceparent";

/// A trace id and the id of the calling span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The whole operation's id; never zero.
    pub trace_id: u128,
    /// The caller's span (one attempt); never zero.
    pub parent_id: u64,
}

impl TraceContext {
    /// A fresh trace with a fresh span.
    pub fn new() -> Self {
        Self { trace_id: fastrand::u128(1..), parent_id: fastrand::u64(1..) }
    }

    /// The same trace from a new span (the next attempt).
    pub fn child(self) -> Self {
        Self { parent_id: fastrand::u64(1..), ..self }
    }

    /// The `traceparent` value: `00-<trace id>-<span id>-01`.
    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.parent_id)
    }

    /// Reads a `traceparent` value; `None` unless it is well formed (version
    /// 00, lowercase hex ids that are not all zero).
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if parts.next().is_some() || version != "00" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let parent_id = u64::from_str_radix(parent, 16).ok().filter(|id| *id != 0)?;
        Some(Self { trace_id, parent_id })
    }

    /// The trace id as logged: 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> TraceId {
        TraceId(self.trace_id)
    }
}

impl Default for TraceContext {
    fn default() -> Self {
        Self::new()
    }
}

/// A trace id shown as 32 lowercase hex digits (for span fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceId(pub u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_children_keep_the_trace() {
        let context = TraceContext::new();
        assert_eq!(TraceContext::parse(&context.header()), Some(context));
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_eq!(context.trace_id_hex().to_string().len(), 32);
    }

    #[test]
    fn reads_the_w3c_example() {
        let parsed = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(parsed.trace_id_hex().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.parent_id, 0x00f0_67aa_0ba9_02b7);
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }
}
