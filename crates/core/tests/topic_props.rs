//! Property tests for the topic algebra: matching against a naive reference matcher, and
//! intersection / containment checked by brute force on a small universe of topics.

use std::sync::LazyLock;

use linkmq_core::topic::{
    covers, intersect, intersect_all, matches, validate_filter, validate_topic_name,
};
use proptest::prelude::*;

/// Literal levels used by both filters and topics; `$x` exercises the '$' rule, "" empty levels.
const WORDS: [&str; 4] = ["a", "b", "$x", ""];

/// Deepest generated filter; topics go one level deeper so `#` is told apart from `+`.
const MAX_FILTER_DEPTH: usize = 4;

/// Every topic over `WORDS` with 1..=MAX_FILTER_DEPTH+1 levels.
static UNIVERSE: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut all: Vec<Vec<&str>> = vec![vec![]];
    let mut out = Vec::new();
    for _ in 0..=MAX_FILTER_DEPTH {
        let mut next = Vec::new();
        for prefix in &all {
            for w in WORDS {
                let mut p = prefix.clone();
                p.push(w);
                next.push(p);
            }
        }
        out.extend(next.iter().map(|p| p.join("/")).filter(|t| !t.is_empty()));
        all = next;
    }
    out
});

/// Reference matcher written independently of the implementation: recursion on level slices.
fn naive_matches(filter: &str, topic: &str) -> bool {
    fn go(f: &[&str], t: &[&str], first: bool) -> bool {
        let dollar = first && t.first().is_some_and(|w| w.starts_with('$'));
        match (f.first(), t.first()) {
            (Some(&"#"), _) => !dollar,
            (Some(&"+"), Some(_)) => !dollar && go(&f[1..], &t[1..], false),
            (Some(fw), Some(tw)) => fw == tw && go(&f[1..], &t[1..], false),
            (None, None) => true,
            _ => false,
        }
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    go(&f, &t, true)
}

/// The topics of the universe matched by `filter` (none for a disjoint intersection).
fn topic_set(filter: Option<&str>) -> Vec<&'static str> {
    match filter {
        None => Vec::new(),
        Some(f) => UNIVERSE
            .iter()
            .filter(|t| matches(f, t))
            .map(String::as_str)
            .collect(),
    }
}

fn word() -> impl Strategy<Value = &'static str> {
    prop::sample::select(WORDS.to_vec())
}

fn filter_word() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => word(), 2 => Just("+")]
}

/// Valid filters over the small alphabet, at most MAX_FILTER_DEPTH levels, '#' only last.
fn filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(filter_word(), 0..=MAX_FILTER_DEPTH),
        any::<bool>(),
    )
        .prop_filter_map("needs a level", |(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.truncate(MAX_FILTER_DEPTH - 1);
                levels.push("#");
            }
            let f = levels.join("/");
            (!f.is_empty()).then_some(f)
        })
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..=MAX_FILTER_DEPTH + 1).prop_filter_map("non-empty", |levels| {
        let t = levels.join("/");
        (!t.is_empty()).then_some(t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_inputs_are_valid(f in filter(), t in topic()) {
        prop_assert_eq!(validate_filter(&f, 0), Ok(()));
        prop_assert_eq!(validate_topic_name(&t, 0), Ok(()));
    }

    #[test]
    fn matches_agrees_with_naive_reference(f in filter(), t in topic()) {
        prop_assert_eq!(matches(&f, &t), naive_matches(&f, &t), "filter {} topic {}", f, t);
    }

    #[test]
    fn intersection_is_symmetric(a in filter(), b in filter()) {
        let ab = intersect(&a, &b);
        let ba = intersect(&b, &a);
        prop_assert_eq!(topic_set(ab.as_deref()), topic_set(ba.as_deref()));
    }

    #[test]
    fn intersection_matches_exactly_the_common_topics(a in filter(), b in filter()) {
        let i = intersect(&a, &b);
        if let Some(i) = &i {
            prop_assert_eq!(validate_filter(i, 0), Ok(()), "{} ∩ {} = {}", a, b, i);
        }
        for t in UNIVERSE.iter() {
            let in_i = i.as_deref().is_some_and(|i| matches(i, t));
            let in_both = matches(&a, t) && matches(&b, t);
            prop_assert_eq!(in_i, in_both, "{} ∩ {} = {:?} on topic {}", a, b, i, t);
        }
    }

    #[test]
    fn covers_agrees_with_brute_force(wide in filter(), narrow in filter()) {
        let brute = UNIVERSE.iter().all(|t| !matches(&narrow, t) || matches(&wide, t));
        prop_assert_eq!(covers(&wide, &narrow), brute, "wide {} narrow {}", wide, narrow);
    }

    #[test]
    fn intersect_all_keeps_the_union_and_drops_covered(
        f in filter(),
        links in prop::collection::vec(filter(), 0..5),
    ) {
        let routes = intersect_all(&f, &links);
        for t in UNIVERSE.iter() {
            let wanted = matches(&f, t) && links.iter().any(|l| matches(l, t));
            let routed = routes.iter().any(|r| matches(r, t));
            prop_assert_eq!(wanted, routed, "F={} links={:?} routes={:?} topic {}", f, links, routes, t);
        }
        for (i, r) in routes.iter().enumerate() {
            for (j, s) in routes.iter().enumerate() {
                prop_assert!(i == j || !covers(s, r), "{} covers {} in {:?}", s, r, routes);
            }
        }
        prop_assert_eq!(&routes, &intersect_all(&f, &links), "deterministic");
    }
}
