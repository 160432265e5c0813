//! MQTT topic names and filters: validation, matching, shared-subscription parsing, and the
//! filter algebra (intersection, containment) that Cluster Linking route replication needs.
//!
//! Everything here works on `&str` levels split on `/` without allocating, except the
//! functions that return a new filter. Topics come from clients, so nothing here panics on
//! malformed input; matching functions assume validated filters but stay total on any input.

/// Largest encoded length of a topic name or filter [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Prefix of an MQTT v5 shared subscription filter: `$share/<group>/<filter>`.
pub const SHARE_PREFIX: &str = "$share/";

/// Prefix of EMQX's legacy shared subscription filter: `$queue/<filter>` (group `$queue`).
pub const QUEUE_PREFIX: &str = "$queue/";

/// Group name reported by [`parse_shared`] for EMQX's legacy `$queue/` filters.
pub const QUEUE_GROUP: &str = "$queue";

/// Why a topic name or filter was rejected; messages cite the normative statement.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// The topic or filter is the empty string.
    #[error("[MQTT-4.7.3-1] topic must be at least one character long")]
    Empty,
    /// The topic or filter encodes to more than 65535 bytes.
    #[error("[MQTT-4.7.3-3] topic must not encode to more than 65535 bytes")]
    TooLong,
    /// The topic or filter contains U+0000.
    #[error("[MQTT-4.7.3-2] topic must not contain the null character U+0000")]
    ContainsNul,
    /// A topic name (PUBLISH) contains `+` or `#`.
    #[error("[MQTT-3.3.2-2] topic name must not contain wildcard characters")]
    WildcardInName,
    /// A wildcard does not occupy a whole level, or `#` is not the last level.
    #[error(
        "[MQTT-4.7.1-1] [MQTT-4.7.1-2] wildcards must occupy a whole level and '#' must be the last level"
    )]
    InvalidWildcard,
    /// The topic has more levels than the configured `max_topic_levels`.
    #[error("topic has more than {max} levels (max_topic_levels)")]
    TooManyLevels {
        /// The configured limit.
        max: usize,
    },
    /// A `$share/` or `$queue/` filter is malformed; the reason cites the statement.
    #[error("invalid shared subscription filter: {0}")]
    InvalidSharedFilter(&'static str),
}

/// Checks the rules shared by names and filters: non-empty, length, NUL, level count (0 = no limit).
fn validate_common(s: &str, max_levels: usize) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::ContainsNul);
    }
    if max_levels > 0 && s.bytes().filter(|&b| b == b'/').count() >= max_levels {
        return Err(TopicError::TooManyLevels { max: max_levels });
    }
    Ok(())
}

/// Validates a PUBLISH topic name; `max_levels` = 0 disables the level limit.
pub fn validate_topic_name(name: &str, max_levels: usize) -> Result<(), TopicError> {
    validate_common(name, max_levels)?;
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Validates a SUBSCRIBE filter, including `$share/<group>/<filter>` and `$queue/<filter>`;
/// `max_levels` = 0 disables the level limit (applied to the inner filter of a shared one).
pub fn validate_filter(filter: &str, max_levels: usize) -> Result<(), TopicError> {
    validate_common(filter, 0)?;
    let inner = match parse_shared(filter)? {
        Some((_, inner)) => inner,
        None => filter,
    };
    validate_plain_filter(inner, max_levels)
}

/// Validates a filter that is not shared: wildcards whole levels, `#` last.
fn validate_plain_filter(filter: &str, max_levels: usize) -> Result<(), TopicError> {
    validate_common(filter, max_levels)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" if levels.peek().is_some() => return Err(TopicError::InvalidWildcard),
            "#" | "+" => {}
            _ if level.bytes().any(|b| b == b'+' || b == b'#') => {
                return Err(TopicError::InvalidWildcard);
            }
            _ => {}
        }
    }
    Ok(())
}

/// True when the filter contains a `+` or `#` wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// True when the first level of `s` is a wildcard (`+` or `#`).
fn first_is_wildcard(s: &str) -> bool {
    let first = s.split('/').next().unwrap_or("");
    first == "+" || first == "#"
}

/// MQTT matching incl. the $-rule: a topic starting with '$' is not matched by a filter starting with '+' or '#' [MQTT-4.7.2-1].
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && first_is_wildcard(filter) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // '#' also matches the parent level: `t/#` matches `t` [MQTT-4.7.1-1].
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fw), Some(tw)) if fw == tw => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// "$share/group/filter" → Some(("group", "filter")); also EMQX's legacy "$queue/filter" → Some(("$queue", "filter")); otherwise None. Invalid shared syntax → Err.
pub fn parse_shared(filter: &str) -> Result<Option<(&str, &str)>, TopicError> {
    if let Some(rest) = filter.strip_prefix(SHARE_PREFIX) {
        let Some((group, inner)) = rest.split_once('/') else {
            return Err(TopicError::InvalidSharedFilter(
                "[MQTT-4.8.2-2] '$share/<group>' must be followed by '/' and a topic filter",
            ));
        };
        if group.is_empty() {
            return Err(TopicError::InvalidSharedFilter(
                "[MQTT-4.8.2-1] share name must be at least one character long",
            ));
        }
        if group.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::InvalidSharedFilter(
                "[MQTT-4.8.2-1] share name must not contain '/', '+' or '#'",
            ));
        }
        if inner.is_empty() {
            return Err(TopicError::InvalidSharedFilter(
                "[MQTT-4.8.2-2] shared subscription topic filter must not be empty",
            ));
        }
        return Ok(Some((group, inner)));
    }
    if let Some(inner) = filter.strip_prefix(QUEUE_PREFIX) {
        if inner.is_empty() {
            return Err(TopicError::InvalidSharedFilter(
                "'$queue/' must be followed by a topic filter",
            ));
        }
        return Ok(Some((QUEUE_GROUP, inner)));
    }
    Ok(None)
}

/// True when `a` is a literal level starting with '$' and `b` is a wildcard level.
fn dollar_vs_wildcard(a: &str, b: &str) -> bool {
    a.starts_with('$') && (b == "+" || b == "#")
}

/// The intersection of two filters per cluster-link-protocol.md §4 word rules ('#' yields the other side's rest; '+' vs literal → literal; '+'/'+' → '+'; different literals → none; a '$'-first word never intersects a wildcard). None = disjoint.
///
/// The '$' rule applies to the first level only, as matching does [MQTT-4.7.2-1]; the result
/// matches exactly the topics matched by both `a` and `b`.
pub fn intersect(a: &str, b: &str) -> Option<String> {
    let a_first = a.split('/').next().unwrap_or("");
    let b_first = b.split('/').next().unwrap_or("");
    if dollar_vs_wildcard(a_first, b_first) || dollar_vs_wildcard(b_first, a_first) {
        return None;
    }
    let mut out = String::with_capacity(a.len().max(b.len()));
    let mut first = true;
    let mut aw = a.split('/');
    let mut bw = b.split('/');
    loop {
        let (x, y) = (aw.next(), bw.next());
        let word = match (x, y) {
            // "" is no topic: `+` ∩ `/#` is empty.
            (None, None) if out.is_empty() => return None,
            (None, None) => return Some(out),
            // '#' yields the other side's rest (possibly nothing: `t/#` ∩ `t` = `t`).
            (_, Some("#")) => {
                x.into_iter()
                    .chain(aw)
                    .for_each(|w| push_level(&mut out, &mut first, w));
                return (!out.is_empty()).then_some(out);
            }
            (Some("#"), _) => {
                y.into_iter()
                    .chain(bw)
                    .for_each(|w| push_level(&mut out, &mut first, w));
                return (!out.is_empty()).then_some(out);
            }
            (Some("+"), Some(w)) | (Some(w), Some("+")) => w,
            (Some(v), Some(w)) if v == w => v,
            _ => return None,
        };
        push_level(&mut out, &mut first, word);
    }
}

/// Appends one level to a filter being built, with the separator when needed.
fn push_level(out: &mut String, first: &mut bool, word: &str) {
    if !*first {
        out.push('/');
    }
    *first = false;
    out.push_str(word);
}

/// True when every topic matched by `narrow` is matched by `wide` (filter containment; `t/#` covers `t`, `t/+` covers `t/1`).
pub fn covers(wide: &str, narrow: &str) -> bool {
    if narrow.starts_with('$') && first_is_wildcard(wide) {
        return false;
    }
    let mut w = wide.split('/');
    let mut n = narrow.split('/');
    // Levels of `narrow` walked so far, and whether they join to "" (none, or one empty level).
    let mut depth = 0;
    let mut empty_prefix = true;
    loop {
        match (w.next(), n.next()) {
            (Some("#"), _) => return true,
            // `P/#` also matches the topic `P` itself, which `P/+/#` does not, unless `P` alone
            // is the empty (invalid) topic: `+/#` covers `#`, `/+/#` covers `/#`.
            (Some("+"), Some("#")) => {
                return depth <= 1 && empty_prefix && w.next() == Some("#") && w.next().is_none();
            }
            (Some("+"), Some(nw)) => empty_prefix &= nw.is_empty(),
            (Some(ww), Some(nw)) if ww == nw => empty_prefix &= nw.is_empty(),
            (None, None) => return true,
            _ => return false,
        }
        depth += 1;
    }
}

/// Intersections of `filter` with each of `link_topics`, dropping any that is covered by another one (spec §4); deduplicated; deterministic order.
///
/// The result is sorted; when two different filters match the same topics (`#` and `+/#`),
/// the smaller string is kept.
pub fn intersect_all(filter: &str, link_topics: &[String]) -> Vec<String> {
    let mut found: Vec<String> = link_topics
        .iter()
        .filter_map(|t| intersect(filter, t))
        .collect();
    found.sort_unstable();
    found.dedup();
    let keep: Vec<bool> = found
        .iter()
        .enumerate()
        .map(|(i, candidate)| {
            !found.iter().enumerate().any(|(j, other)| {
                j != i && covers(other, candidate) && (j < i || !covers(candidate, other))
            })
        })
        .collect();
    found
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mqtt_4_7_3_1_empty_topic_rejected() {
        assert_eq!(validate_topic_name("", 0), Err(TopicError::Empty));
        assert_eq!(validate_filter("", 0), Err(TopicError::Empty));
        assert!(TopicError::Empty.to_string().starts_with("[MQTT-4.7.3-1]"));
    }

    #[test]
    fn mqtt_4_7_3_2_nul_rejected() {
        assert_eq!(validate_topic_name("a\0b", 0), Err(TopicError::ContainsNul));
        assert_eq!(validate_filter("a/\0", 0), Err(TopicError::ContainsNul));
    }

    #[test]
    fn mqtt_4_7_3_3_length_limit() {
        let ok = "a".repeat(MAX_TOPIC_LEN);
        assert_eq!(validate_topic_name(&ok, 0), Ok(()));
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&long, 0), Err(TopicError::TooLong));
        assert_eq!(validate_filter(&long, 0), Err(TopicError::TooLong));
    }

    #[test]
    fn mqtt_3_3_2_2_wildcards_in_name_rejected() {
        assert_eq!(
            validate_topic_name("a/+", 0),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(validate_topic_name("#", 0), Err(TopicError::WildcardInName));
        assert_eq!(
            validate_topic_name("a/b#", 0),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(validate_topic_name("/", 0), Ok(()));
        assert_eq!(validate_topic_name("$SYS/x", 0), Ok(()));
    }

    #[test]
    fn max_levels_counts_levels() {
        assert_eq!(validate_topic_name("a/b/c", 3), Ok(()));
        assert_eq!(
            validate_topic_name("a/b/c/d", 3),
            Err(TopicError::TooManyLevels { max: 3 })
        );
        assert_eq!(validate_filter("a/+/#", 3), Ok(()));
        assert_eq!(
            validate_filter("$share/g/a/b/c/d", 3),
            Err(TopicError::TooManyLevels { max: 3 })
        );
        assert_eq!(validate_filter("$share/g/a/b/c", 3), Ok(()));
    }

    #[test]
    fn mqtt_4_7_1_wildcard_placement() {
        for ok in ["#", "+", "a/#", "+/+/#", "/+", "a//#", "+/a/+"] {
            assert_eq!(validate_filter(ok, 0), Ok(()), "{ok}");
        }
        for bad in ["a/#/b", "#/a", "a#", "a/b+", "+a", "a/++", "##"] {
            assert_eq!(
                validate_filter(bad, 0),
                Err(TopicError::InvalidWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn shared_filters_parse_and_validate() {
        assert_eq!(parse_shared("$share/g/a/+"), Ok(Some(("g", "a/+"))));
        assert_eq!(parse_shared("$queue/a/#"), Ok(Some((QUEUE_GROUP, "a/#"))));
        assert_eq!(parse_shared("a/b"), Ok(None));
        assert_eq!(parse_shared("$share"), Ok(None));
        assert_eq!(parse_shared("$sharex/g/a"), Ok(None));
        for bad in [
            "$share/g",
            "$share//a",
            "$share/g/",
            "$share/g+/a",
            "$share/#/a",
            "$queue/",
        ] {
            assert!(
                matches!(parse_shared(bad), Err(TopicError::InvalidSharedFilter(_))),
                "{bad}"
            );
            assert!(validate_filter(bad, 0).is_err(), "{bad}");
        }
        assert_eq!(validate_filter("$share/g/a/#", 0), Ok(()));
        assert_eq!(
            validate_filter("$share/g/a/#/b", 0),
            Err(TopicError::InvalidWildcard)
        );
    }

    #[test]
    fn matching_basics() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(matches("a/+", "a/b"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a"));
        assert!(matches("+/+", "/x"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("a/#", "a/b/c"));
        assert!(!matches("a/#", "ab"));
        assert!(matches("+/b/#", "x/b"));
    }

    #[test]
    fn mqtt_4_7_1_1_hash_matches_parent_level() {
        assert!(matches("t/#", "t"));
        assert!(matches("t/+/#", "t/x"));
        assert!(!matches("t/+/#", "t"));
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$SYS/brokers"));
        assert!(!matches("+/brokers", "$SYS/brokers"));
        assert!(!matches("+/#", "$SYS"));
        assert!(matches("$SYS/#", "$SYS/brokers"));
        assert!(matches("$SYS/+", "$SYS/brokers"));
        assert!(matches("a/+", "a/$x"));
        assert!(matches("a/#", "a/$x/y"));
    }

    #[test]
    fn intersect_word_rules() {
        assert_eq!(intersect("t/#", "t/a/b").as_deref(), Some("t/a/b"));
        assert_eq!(intersect("t/a/b", "t/#").as_deref(), Some("t/a/b"));
        assert_eq!(intersect("t/#", "t").as_deref(), Some("t"));
        assert_eq!(intersect("t/+", "t/1").as_deref(), Some("t/1"));
        assert_eq!(intersect("t/+", "+/+").as_deref(), Some("t/+"));
        assert_eq!(intersect("+/+", "+/+").as_deref(), Some("+/+"));
        assert_eq!(intersect("#", "#").as_deref(), Some("#"));
        assert_eq!(intersect("+/#", "#").as_deref(), Some("+/#"));
        assert_eq!(intersect("/+", "+/").as_deref(), Some("/"));
        assert_eq!(intersect("t/1", "t/2"), None);
        assert_eq!(intersect("t/+", "t"), None);
        assert_eq!(intersect("t/+/#", "t"), None);
    }

    #[test]
    fn intersect_dollar_first_word_never_meets_wildcard() {
        assert_eq!(intersect("$SYS/#", "#"), None);
        assert_eq!(intersect("+/x", "$SYS/x"), None);
        assert_eq!(intersect("$LINK/cluster/#", "+/cluster/#"), None);
        assert_eq!(intersect("$SYS/+", "$SYS/#").as_deref(), Some("$SYS/+"));
        // Below the first level '$' is an ordinary character, as in matching.
        assert_eq!(intersect("a/$x", "a/+").as_deref(), Some("a/$x"));
    }

    #[test]
    fn covers_rules() {
        assert!(covers("t/#", "t"));
        assert!(covers("t/#", "t/+/#"));
        assert!(covers("t/+", "t/1"));
        assert!(covers("t/+", "t/+"));
        assert!(covers("#", "+/#"));
        assert!(covers("+/#", "#"));
        assert!(!covers("t/+", "t/#"));
        assert!(!covers("t/1", "t/+"));
        assert!(!covers("#", "$SYS/x"));
        assert!(covers("$SYS/#", "$SYS/x"));
        assert!(covers("t/1/2/3/#", "t/1/2/3"));
    }

    #[test]
    fn link_spec_4_example_1_subset_dropped() {
        let link = strings(&["t/1/+/3/#", "t/z", "t/1/2/+"]);
        assert_eq!(intersect_all("t/+/2/3/#", &link), strings(&["t/1/2/3/#"]));
    }

    #[test]
    fn link_spec_4_example_2_two_routes() {
        let link = strings(&["t/+/1/#", "t/z", "t/1/+"]);
        assert_eq!(intersect_all("t/+/+", &link), strings(&["t/+/1", "t/1/+"]));
    }

    #[test]
    fn link_spec_4_example_3_hash_yields_literal() {
        assert_eq!(intersect_all("t/6", &strings(&["t/#"])), strings(&["t/6"]));
    }

    #[test]
    fn intersect_all_dedups_and_handles_equivalent_filters() {
        assert_eq!(
            intersect_all("t/#", &strings(&["t/#", "t/#", "#"])),
            strings(&["t/#"])
        );
        assert_eq!(intersect_all("#", &strings(&["+/#", "#"])), strings(&["#"]));
        assert!(intersect_all("a/b", &strings(&["c/#", "$SYS/#"])).is_empty());
        assert!(intersect_all("#", &strings(&["$LINK/cluster/#"])).is_empty());
    }
}
