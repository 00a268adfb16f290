//! Large results are paged, never cut silently: a list is replaced by one page of it and a
//! `page` object says how many there are, where this page starts and how to get the next one.

use serde_json::{json, Value};

/// How much of a list one answer holds by default, and at most.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The `offset` and `limit` arguments of a paged tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    pub fn new(offset: Option<usize>, limit: Option<usize>, default: usize) -> Page {
        Page {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(default).clamp(1, MAX_LIMIT),
        }
    }

    /// The range of `total` items this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(total);
        start..(start + self.limit).min(total)
    }

    /// Describes this page of `total` `what` (findings, layers) for the agent.
    pub fn describe(&self, total: usize, what: &str, offset_arg: &str) -> Value {
        let range = self.range(total);
        let next = (range.end < total).then_some(range.end);
        let note = match next {
            Some(next) => Some(format!(
                "{what} {}-{} of {total}; call again with {offset_arg}={next} for more",
                range.start + 1,
                range.end
            )),
            None if range.start > 0 || range.is_empty() && total > 0 => Some(format!(
                "{what} {}-{} of {total}",
                (range.start + 1).min(total),
                range.end
            )),
            None => None,
        };
        json!({
            "total": total,
            "offset": range.start,
            "returned": range.len(),
            "next_offset": next,
            "note": note,
        })
    }
}

/// Replaces the array at `value[key]` with one page of it and adds `"{key}_page"`.
pub fn page_array(value: &mut Value, key: &str, page: Page, what: &str, offset_arg: &str) {
    let Some(Value::Array(items)) = value.get_mut(key) else {
        return;
    };
    let total = items.len();
    let range = page.range(total);
    let kept: Vec<Value> = items.drain(range).collect();
    *items = kept;
    if let Some(object) = value.as_object_mut() {
        object.insert(
            format!("{key}_page"),
            page.describe(total, what, offset_arg),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_say_where_the_rest_is() {
        let page = Page::new(Some(2), Some(3), DEFAULT_LIMIT);
        let mut value = json!({"items": [0, 1, 2, 3, 4, 5, 6]});
        page_array(&mut value, "items", page, "items", "offset");
        assert_eq!(value["items"], json!([2, 3, 4]));
        assert_eq!(value["items_page"]["total"], 7);
        assert_eq!(value["items_page"]["next_offset"], 5);
        let note = value["items_page"]["note"].as_str().expect("a note");
        assert!(
            note.contains("3-5 of 7") && note.contains("offset=5"),
            "{note}"
        );
    }

    #[test]
    fn the_last_page_has_no_next_and_limits_are_clamped() {
        let page = Page::new(Some(5), Some(0), DEFAULT_LIMIT);
        assert_eq!(page.limit, 1);
        let description = Page::new(Some(6), None, 10).describe(7, "items", "offset");
        assert_eq!(description["next_offset"], Value::Null);
        assert_eq!(description["returned"], 1);
        let past_end = Page::new(Some(50), None, 10);
        assert_eq!(past_end.range(7), 7..7);
        assert_eq!(Page::new(None, Some(5000), 10).limit, MAX_LIMIT);
    }

    #[test]
    fn a_complete_list_has_no_note() {
        let description = Page::new(None, None, 10).describe(3, "items", "offset");
        assert_eq!(description["note"], Value::Null);
    }
}
