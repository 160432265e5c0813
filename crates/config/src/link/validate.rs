//! The rules a cluster link must satisfy beyond its types; shared by the config loader and
//! (later) the REST API, which maps each error to an EMQX-shaped 400 response.

use std::collections::HashSet;

use crate::link::LinkConfig;
use crate::topic::{TopicFilterError, filter_covers, validate_filter};

/// Link names must be shorter than this many bytes.
pub const MAX_LINK_NAME_LEN: usize = 255;

/// Why a link (or a list of links) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkValidationError {
    /// `name = ""`.
    #[error("Name cannot be empty string")]
    EmptyName,
    /// The name has 255 bytes or more.
    #[error("Name length must be less than 255")]
    NameTooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// The name does not match `^[0-9a-zA-Z][-0-9a-zA-Z_]*$`.
    #[error(
        "Invalid name format. The name must begin with a letter or number (0-9, a-z, A-Z) and can only include underscores and hyphens."
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Two links share a name.
    #[error("Cluster link name {name:?} is used more than once")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A topic is not a valid MQTT topic filter (or is a shared-subscription filter).
    #[error("invalid topic filter {topic:?}: {reason}")]
    InvalidTopic {
        /// The rejected filter.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A topic overlaps the reserved `$LINK/cluster/` namespace.
    #[error("topic filter {topic:?} overlaps the reserved $LINK/cluster/ prefix")]
    TopicUnderLinkPrefix {
        /// The rejected filter.
        topic: String,
    },
    /// The same filter is listed twice.
    #[error("duplicate topic filter {topic:?}")]
    DuplicateTopic {
        /// The repeated filter.
        topic: String,
    },
    /// Filters already covered by another filter of the list, e.g. `t/1` next to `t/+`.
    #[error("redundant_topics: {topics:?} are covered by other topics of the link")]
    RedundantTopics {
        /// The redundant filters, in list order.
        topics: Vec<String>,
    },
}

impl LinkValidationError {
    /// A stable machine-readable code (`"redundant_topics"`, `"invalid_name"`, ...) for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            LinkValidationError::EmptyName => "empty_name",
            LinkValidationError::NameTooLong { .. } => "name_too_long",
            LinkValidationError::InvalidName { .. } => "invalid_name",
            LinkValidationError::DuplicateName { .. } => "duplicate_name",
            LinkValidationError::InvalidTopic { .. } => "invalid_topic",
            LinkValidationError::TopicUnderLinkPrefix { .. } => "reserved_topic",
            LinkValidationError::DuplicateTopic { .. } => "duplicate_topic",
            LinkValidationError::RedundantTopics { .. } => "redundant_topics",
        }
    }

    /// Whether the error is about `name` (otherwise it is about `topics`).
    pub fn is_about_name(&self) -> bool {
        matches!(
            self,
            LinkValidationError::EmptyName
                | LinkValidationError::NameTooLong { .. }
                | LinkValidationError::InvalidName { .. }
                | LinkValidationError::DuplicateName { .. }
        )
    }
}

/// Checks a link name: non-empty, < 255 bytes, `^[0-9a-zA-Z][-0-9a-zA-Z_]*$`.
pub fn validate_link_name(name: &str) -> Result<(), LinkValidationError> {
    if name.is_empty() {
        return Err(LinkValidationError::EmptyName);
    }
    if name.len() >= MAX_LINK_NAME_LEN {
        return Err(LinkValidationError::NameTooLong { len: name.len() });
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(LinkValidationError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Checks a link's topic list: valid filters, none under `$LINK/cluster/`, no duplicates,
/// no filter covered by another one.
pub fn validate_link_topics(topics: &[String]) -> Result<(), LinkValidationError> {
    for topic in topics {
        validate_filter(topic).map_err(|e: TopicFilterError| {
            LinkValidationError::InvalidTopic {
                topic: topic.clone(),
                reason: e.to_string(),
            }
        })?;
        if topic.starts_with("$share/") || topic.starts_with("$queue/") {
            return Err(LinkValidationError::InvalidTopic {
                topic: topic.clone(),
                reason: "shared subscription filters cannot be link topics".to_string(),
            });
        }
        if overlaps_link_namespace(topic) {
            return Err(LinkValidationError::TopicUnderLinkPrefix {
                topic: topic.clone(),
            });
        }
    }
    let mut seen = HashSet::new();
    for topic in topics {
        if !seen.insert(topic.as_str()) {
            return Err(LinkValidationError::DuplicateTopic {
                topic: topic.clone(),
            });
        }
    }
    let redundant: Vec<String> = topics
        .iter()
        .filter(|t| {
            topics
                .iter()
                .any(|other| other != *t && filter_covers(other, t))
        })
        .cloned()
        .collect();
    if !redundant.is_empty() {
        return Err(LinkValidationError::RedundantTopics { topics: redundant });
    }
    Ok(())
}

/// Whether `filter` can match a topic of `$LINK/cluster/#`.
fn overlaps_link_namespace(filter: &str) -> bool {
    let mut levels = filter.split('/');
    levels.next() == Some("$LINK") && matches!(levels.next(), Some("cluster" | "+" | "#"))
}

/// Checks one link on its own (name and topics).
pub fn validate_link(link: &LinkConfig) -> Result<(), LinkValidationError> {
    validate_link_name(&link.name)?;
    validate_link_topics(&link.topics)
}

/// Checks every link and that names are unique.
pub fn validate_links(links: &[LinkConfig]) -> Result<(), LinkValidationError> {
    for link in links {
        validate_link(link)?;
    }
    if let Some(name) = duplicate_names(links).into_iter().next() {
        return Err(LinkValidationError::DuplicateName { name });
    }
    Ok(())
}

/// Names that occur more than once, each reported once, in list order.
pub(crate) fn duplicate_names(links: &[LinkConfig]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut dups = Vec::new();
    for link in links {
        if !seen.insert(link.name.as_str()) && !dups.contains(&link.name) {
            dups.push(link.name.clone());
        }
    }
    dups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn link(name: &str, t: &[&str]) -> LinkConfig {
        LinkConfig::new(
            name,
            "h:1883".parse().unwrap_or_else(|e| panic!("{e}")),
            topics(t),
        )
    }

    #[test]
    fn name_rules_with_emqx_messages() {
        assert_eq!(validate_link_name("emqx-eu-west"), Ok(()));
        assert_eq!(validate_link_name("0_a-B"), Ok(()));
        let e = validate_link_name("").unwrap_err();
        assert_eq!(e.to_string(), "Name cannot be empty string");
        let e = validate_link_name(&"a".repeat(255)).unwrap_err();
        assert_eq!(e, LinkValidationError::NameTooLong { len: 255 });
        assert_eq!(e.to_string(), "Name length must be less than 255");
        assert_eq!(validate_link_name(&"a".repeat(254)), Ok(()));
        for bad in ["-a", "_a", "a.b", "a b", "é", "a/b"] {
            let e = validate_link_name(bad).unwrap_err();
            assert!(e.to_string().starts_with("Invalid name format"), "{bad}");
        }
    }

    #[test]
    fn topic_rules() {
        assert_eq!(validate_link_topics(&[]), Ok(()));
        assert_eq!(
            validate_link_topics(&topics(&["global/#", "fwd/#", "cluster/+/status"])),
            Ok(())
        );
        assert!(matches!(
            validate_link_topics(&topics(&["a/#/b"])),
            Err(LinkValidationError::InvalidTopic { .. })
        ));
        assert!(matches!(
            validate_link_topics(&topics(&["$share/g/t"])),
            Err(LinkValidationError::InvalidTopic { .. })
        ));
        for reserved in [
            "$LINK/cluster/route/x",
            "$LINK/#",
            "$LINK/+/msg/a",
            "$LINK/cluster",
        ] {
            assert_eq!(
                validate_link_topics(&topics(&[reserved])),
                Err(LinkValidationError::TopicUnderLinkPrefix {
                    topic: reserved.into()
                })
            );
        }
        assert_eq!(validate_link_topics(&topics(&["$LINK/other", "#"])), Ok(()));
        assert_eq!(
            validate_link_topics(&topics(&["a", "b", "a"])),
            Err(LinkValidationError::DuplicateTopic { topic: "a".into() })
        );
        let e = validate_link_topics(&topics(&["t/+", "t/1"])).unwrap_err();
        assert_eq!(
            e,
            LinkValidationError::RedundantTopics {
                topics: topics(&["t/1"])
            }
        );
        assert_eq!(e.code(), "redundant_topics");
        let e = validate_link_topics(&topics(&["x/1", "#", "t/+", "t/1"])).unwrap_err();
        assert_eq!(
            e,
            LinkValidationError::RedundantTopics {
                topics: topics(&["x/1", "t/+", "t/1"])
            }
        );
    }

    #[test]
    fn link_list_rules() {
        assert_eq!(
            validate_links(&[link("a", &["t"]), link("b", &["t"])]),
            Ok(())
        );
        assert_eq!(
            validate_links(&[link("a", &[]), link("b", &[]), link("a", &[])]),
            Err(LinkValidationError::DuplicateName { name: "a".into() })
        );
        assert_eq!(
            validate_links(&[link("ok", &[]), link("", &[])]),
            Err(LinkValidationError::EmptyName)
        );
        assert!(validate_link(&link("a", &["t/+", "t/1"])).is_err());
    }
}
