//! Just enough MQTT topic-filter logic for configuration: validity and "filter A covers filter B".

use std::fmt;

/// Longest topic filter MQTT allows, in bytes.
pub const MAX_FILTER_LEN: usize = 65_535;

/// Why a topic filter is not valid MQTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicFilterError {
    /// The filter is the empty string.
    Empty,
    /// The filter is longer than 65535 bytes.
    TooLong,
    /// The filter contains U+0000.
    NulCharacter,
    /// `#` is not alone in the last level.
    MisplacedMultiLevelWildcard,
    /// `+` does not occupy a whole level.
    MisplacedSingleLevelWildcard,
}

impl fmt::Display for TopicFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TopicFilterError::Empty => "topic filter must not be empty",
            TopicFilterError::TooLong => "topic filter is longer than 65535 bytes",
            TopicFilterError::NulCharacter => "topic filter contains a NUL character",
            TopicFilterError::MisplacedMultiLevelWildcard => "'#' must be the whole last level",
            TopicFilterError::MisplacedSingleLevelWildcard => "'+' must occupy a whole level",
        })
    }
}

impl std::error::Error for TopicFilterError {}

/// Checks a topic filter against MQTT 5.0 §4.7 ([MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-1..3]).
pub fn validate_filter(filter: &str) -> Result<(), TopicFilterError> {
    if filter.is_empty() {
        return Err(TopicFilterError::Empty);
    }
    if filter.len() > MAX_FILTER_LEN {
        return Err(TopicFilterError::TooLong);
    }
    if filter.contains('\0') {
        return Err(TopicFilterError::NulCharacter);
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != last) {
            return Err(TopicFilterError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && *level != "+" {
            return Err(TopicFilterError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Whether every topic matched by `narrower` is also matched by `wider` (both valid filters).
///
/// `a/#` covers `a`, `a/b` and `a/+/c`; `+/b` covers `x/b`; `#` and `+/...` never cover
/// filters whose first level starts with `$` ([MQTT-4.7.2-1]).
pub fn filter_covers(wider: &str, narrower: &str) -> bool {
    let w: Vec<&str> = wider.split('/').collect();
    let n: Vec<&str> = narrower.split('/').collect();
    if let (Some(w0), Some(n0)) = (w.first(), n.first())
        && (*w0 == "#" || *w0 == "+")
        && n0.starts_with('$')
    {
        return false;
    }
    let mut i = 0;
    loop {
        match (w.get(i), n.get(i)) {
            (Some(&"#"), _) => return true,
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(&"+"), Some(nl)) => {
                if *nl == "#" {
                    return false;
                }
            }
            (Some(wl), Some(nl)) => {
                if wl != nl {
                    return false;
                }
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_and_invalid_filters() {
        for ok in [
            "#",
            "+",
            "a/b",
            "a/+/c",
            "a/#",
            "/",
            "a//b",
            "$SYS/#",
            "+/+/#",
            "$share/g/t",
        ] {
            assert_eq!(validate_filter(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_filter(""), Err(TopicFilterError::Empty));
        assert_eq!(
            validate_filter("a/#/b"),
            Err(TopicFilterError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            validate_filter("a#"),
            Err(TopicFilterError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            validate_filter("a/b+"),
            Err(TopicFilterError::MisplacedSingleLevelWildcard)
        );
        assert_eq!(validate_filter("a\0b"), Err(TopicFilterError::NulCharacter));
        assert_eq!(
            validate_filter(&"x".repeat(65_536)),
            Err(TopicFilterError::TooLong)
        );
    }

    #[test]
    fn covers_examples() {
        assert!(filter_covers("t/+", "t/1"));
        assert!(filter_covers("t/#", "t"));
        assert!(filter_covers("t/#", "t/+/x"));
        assert!(filter_covers("#", "a/b/#"));
        assert!(filter_covers("+/+", "a/+"));
        assert!(filter_covers("a/b", "a/b"));
        assert!(!filter_covers("t/1", "t/+"));
        assert!(!filter_covers("t/+", "t/#"));
        assert!(!filter_covers("t/+", "t"));
        assert!(!filter_covers("t/+", "t/1/2"));
        assert!(!filter_covers("#", "$SYS/x"));
        assert!(!filter_covers("+/x", "$SYS/x"));
        assert!(filter_covers("$SYS/#", "$SYS/x"));
        assert!(!filter_covers("+/#", "#"));
    }

    /// Naive reference matcher for a topic name (no wildcards) against a filter.
    fn matches(filter: &str, topic: &str) -> bool {
        let f: Vec<&str> = filter.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        if t[0].starts_with('$') && (f[0] == "#" || f[0] == "+") {
            return false;
        }
        for (i, fl) in f.iter().enumerate() {
            match *fl {
                "#" => return true,
                "+" if i < t.len() => {}
                l if i < t.len() && t[i] == l => {}
                _ => return false,
            }
        }
        f.len() == t.len()
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("$s".to_string()),
            Just(String::new())
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop_oneof![4 => level(), 2 => Just("+".to_string())], 1..4),
            any::<bool>(),
        )
            .prop_map(|(mut levels, hash)| {
                if hash {
                    levels.push("#".to_string());
                }
                levels.join("/")
            })
    }

    fn topic() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..6).prop_map(|l| l.join("/"))
    }

    proptest! {
        /// If A covers B, every topic B matches is matched by A.
        #[test]
        fn covers_is_sound(a in filter(), b in filter(), topics in prop::collection::vec(topic(), 32)) {
            if filter_covers(&a, &b) {
                for t in &topics {
                    if matches(&b, t) {
                        prop_assert!(matches(&a, t), "{a} covers {b} but misses {t}");
                    }
                }
            }
        }

        /// Covering is reflexive and transitive.
        #[test]
        fn covers_is_a_preorder(a in filter(), b in filter(), c in filter()) {
            prop_assert!(filter_covers(&a, &a));
            if filter_covers(&a, &b) && filter_covers(&b, &c) {
                prop_assert!(filter_covers(&a, &c));
            }
        }
    }

    #[test]
    fn covers_is_complete_for_wildcard_free_filters() {
        for (a, b) in [("a/+", "a/b"), ("a/#", "a"), ("+/+/#", "a/b")] {
            assert!(matches(a, b) && filter_covers(a, b), "{a} {b}");
        }
    }
}
