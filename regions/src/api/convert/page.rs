//! Paging of listings (`common.proto`'s `PageRequest` and `PageInfo`).
//!
//! A cursor names the sort key of the last entry a page returned, never an
//! offset: the next page starts strictly after that key, so entries appended
//! meanwhile cannot shift or repeat what a client already saw. Cursors are
//! opaque to clients: `<listing>.<hex part>.<hex part>...`, where the
//! listing tag makes a cursor of one listing useless for another and the hex
//! keeps any id byte out of the separators.

use std::fmt::Write as _;

use protos::common::{PageInfo, PageRequest};
use tonic::Status;

use super::input::invalid;

/// Entries a page holds when the request asks for 0.
pub const DEFAULT_LIMIT: usize = 100;

/// Most entries a page may hold.
pub const MAX_LIMIT: usize = 500;

/// Longest cursor accepted, in bytes: far more than any listing's key
/// (at most two ids of 255 bytes, hex-encoded) needs.
const MAX_CURSOR_BYTES: usize = 2_048;

/// The sort key of a listing's entries, as its cursors carry it.
pub trait CursorKey: Sized {
    /// The listing's tag: a cursor of one listing is refused by another.
    const LISTING: &'static str;

    /// The key's parts, in order.
    fn to_parts(&self) -> Vec<String>;

    /// The key back from its parts; `None` if they are not a key of this
    /// listing.
    fn from_parts(parts: &[String]) -> Option<Self>;
}

/// A validated page request: where to start and how many entries to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<K> {
    /// The key of the last entry of the previous page; `None` for the first
    /// page.
    pub after: Option<K>,
    /// Most entries to return, `1..=MAX_LIMIT`.
    pub limit: usize,
}

/// Validates a `PageRequest` (absent reads as the first page at the
/// default size); errors name `page.limit` or `page.cursor`.
pub fn page<K: CursorKey>(request: Option<&PageRequest>) -> Result<Page<K>, Status> {
    let Some(request) = request else { return Ok(Page { after: None, limit: DEFAULT_LIMIT }) };
    let limit = match usize::try_from(request.limit) {
        Ok(0) => DEFAULT_LIMIT,
        Ok(limit) if limit <= MAX_LIMIT => limit,
        _ => {
            return Err(invalid(
                "page.limit",
                format!("must be between 1 and {MAX_LIMIT} (0 selects {DEFAULT_LIMIT})"),
            ));
        }
    };
    let after = if request.cursor.is_empty() {
        None
    } else {
        let key = decode(&request.cursor).filter(|_| request.cursor.len() <= MAX_CURSOR_BYTES);
        Some(
            key.ok_or_else(|| invalid("page.cursor", "is not a cursor of this listing; pass `next_cursor` unchanged"))?,
        )
    };
    Ok(Page { after, limit })
}

/// The opaque cursor naming `key`.
pub fn cursor<K: CursorKey>(key: &K) -> String {
    let mut cursor = K::LISTING.to_owned();
    for part in key.to_parts() {
        cursor.push('.');
        for byte in part.bytes() {
            // Writing to a String cannot fail.
            let _ = write!(cursor, "{byte:02x}");
        }
    }
    cursor
}

/// The `PageInfo` of a page after which `next` is the cursor's key, if more
/// entries follow.
pub fn page_info<K: CursorKey>(next: Option<&K>) -> PageInfo {
    PageInfo { next_cursor: next.map(cursor).unwrap_or_default(), has_more: next.is_some() }
}

/// Cuts a page out of `entries`, which are in the listing's order and start
/// after the page's cursor: at most `limit` of them, and the `PageInfo`
/// naming the last one returned when more follow.
pub fn cut<T, K: CursorKey>(
    entries: impl IntoIterator<Item = T>,
    limit: usize,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, PageInfo) {
    let mut entries = entries.into_iter();
    let page: Vec<T> = entries.by_ref().take(limit).collect();
    let more = entries.next().is_some();
    let next = page.last().filter(|_| more).map(key);
    (page, page_info(next.as_ref()))
}

fn decode<K: CursorKey>(cursor: &str) -> Option<K> {
    let mut parts = cursor.split('.');
    if parts.next()? != K::LISTING {
        return None;
    }
    let parts = parts.map(unhex).collect::<Option<Vec<String>>>()?;
    K::from_parts(&parts)
}

fn unhex(part: &str) -> Option<String> {
    if !part.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..part.len())
        .step_by(2)
        .map(|i| part.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Key(String, u64);

    impl CursorKey for Key {
        const LISTING: &'static str = "test";

        fn to_parts(&self) -> Vec<String> {
            vec![self.0.clone(), self.1.to_string()]
        }

        fn from_parts(parts: &[String]) -> Option<Self> {
            match parts {
                [name, number] => Some(Key(name.clone(), number.parse().ok()?)),
                _ => None,
            }
        }
    }

    fn request(cursor: &str, limit: u32) -> PageRequest {
        PageRequest { cursor: cursor.to_owned(), limit }
    }

    #[test]
    fn limits_default_to_100_and_stop_at_500() {
        assert_eq!(page::<Key>(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(page::<Key>(Some(&request("", 0))).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(page::<Key>(Some(&request("", 1))).unwrap().limit, 1);
        assert_eq!(page::<Key>(Some(&request("", 500))).unwrap().limit, 500);
        for limit in [501, u32::MAX] {
            assert_eq!(page::<Key>(Some(&request("", limit))).unwrap_err().code(), tonic::Code::InvalidArgument);
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let key = Key("wh.1/é".to_owned(), 42);
        let encoded = cursor(&key);
        assert!(encoded.starts_with("test."), "{encoded}");
        assert_eq!(page::<Key>(Some(&request(&encoded, 0))).unwrap().after, Some(key));
        let foreign = encoded.replacen("test", "other", 1);
        let long = format!("test.{}", "00".repeat(MAX_CURSOR_BYTES));
        for bad in ["x", "test", "test.zz.00", "test.6.34", "test.61", "test.ff.34", foreign.as_str(), long.as_str()] {
            let status = page::<Key>(Some(&request(bad, 0))).unwrap_err();
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn cut_names_the_last_entry_only_when_more_follow() {
        let key = |n: &u64| Key(String::new(), *n);
        let (entries, info) = cut(1..=5u64, 2, key);
        assert_eq!(entries, vec![1, 2]);
        assert_eq!(info, page_info(Some(&Key(String::new(), 2))));
        assert!(info.has_more);
        let (entries, info) = cut(1..=2u64, 2, key);
        assert_eq!(entries, vec![1, 2]);
        assert_eq!(info, PageInfo { next_cursor: String::new(), has_more: false });
    }
}
