//! Property tests for the subscription trie against a plain map of filters and `topic::matches`.

use std::collections::BTreeMap;

use linkmq_core::router::trie::TopicTrie;
use linkmq_core::topic::matches;
use proptest::prelude::*;

const WORDS: [&str; 4] = ["a", "b", "$x", ""];

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u32),
    Remove(String),
}

fn filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => prop::sample::select(WORDS.to_vec()), 2 => Just("+")];
    (prop::collection::vec(level, 0..4), any::<bool>()).prop_filter_map(
        "needs a level",
        |(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.push("#");
            }
            let f = levels.join("/");
            (!f.is_empty()).then_some(f)
        },
    )
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS.to_vec()), 1..6).prop_filter_map(
        "non-empty",
        |levels| {
            let t = levels.join("/");
            (!t.is_empty()).then_some(t)
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (filter(), any::<u32>()).prop_map(|(f, v)| Op::Insert(f, v)),
        2 => filter().prop_map(Op::Remove),
    ]
}

fn stored(trie: &TopicTrie<u32>) -> BTreeMap<String, u32> {
    trie.iter().map(|(f, v)| (f.to_string(), *v)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn trie_behaves_like_a_filter_map(
        ops in prop::collection::vec(op(), 0..60),
        topics in prop::collection::vec(topic(), 1..20),
    ) {
        let mut trie = TopicTrie::new();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Insert(f, v) => {
                    *trie.get_or_insert_with(f, || 0) = *v;
                    model.insert(f.clone(), *v);
                }
                Op::Remove(f) => {
                    prop_assert_eq!(trie.remove(f), model.remove(f), "remove {}", f);
                }
            }
            prop_assert_eq!(trie.len(), model.len());
            prop_assert_eq!(trie.is_empty(), model.is_empty());
        }
        prop_assert_eq!(stored(&trie), model.clone());
        for (f, v) in &model {
            prop_assert_eq!(trie.get(f), Some(v));
        }

        for t in &topics {
            let mut visited: Vec<(&str, u32)> = Vec::new();
            trie.for_each_match(t, |f, v| visited.push((f, *v)));
            visited.sort();
            let want: Vec<(&str, u32)> = model
                .iter()
                .filter(|(f, _)| matches(f, t))
                .map(|(f, v)| (f.as_str(), *v))
                .collect();
            prop_assert_eq!(visited, want, "topic {}", t);
        }

        let filters: Vec<String> = model.keys().cloned().collect();
        for f in &filters {
            prop_assert_eq!(trie.remove(f), model.remove(f));
        }
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.iter().count(), 0);
        for t in &topics {
            let mut any = false;
            trie.for_each_match(t, |_, _| any = true);
            prop_assert!(!any);
        }
    }
}
