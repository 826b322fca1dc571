//! Checking the category tree a feed describes with `parentId`. Problems are warnings, not
//! errors: offers stay importable, and category-based recommendations treat a category with
//! a broken parent chain as a top-level one.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::model::Category;

/// A fault in the category tree, with what the shop should fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CategoryWarning {
    /// Two categories share an id; the first one is the one offers get.
    DuplicateId { id: String },
    /// `parentId` names a category the feed does not have.
    UnknownParent { id: String, parent_id: String },
    /// Following `parentId` from these categories comes back to the first of them.
    Cycle { ids: Vec<String> },
}

impl fmt::Display for CategoryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CategoryWarning::DuplicateId { id } => write!(
                f,
                "two or more categories have id \"{id}\"; offers are filed under the first, give the others their own ids"
            ),
            CategoryWarning::UnknownParent { id, parent_id } => write!(
                f,
                "category \"{id}\" has parentId=\"{parent_id}\", but there is no category with that id; \
                 add it or remove the parentId"
            ),
            CategoryWarning::Cycle { ids } => write!(
                f,
                "categories {} are each other's parents in a loop; make one of them top-level",
                ids.iter()
                    .map(|id| format!("\"{id}\""))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        }
    }
}

/// Checks a feed's categories (all of them, as the sink received them): duplicate ids,
/// parents that do not exist, and parent chains that loop. Each cycle is reported once,
/// starting from the category of it that comes first in the feed.
pub fn check_category_tree(categories: &[Category]) -> Vec<CategoryWarning> {
    let mut warnings = Vec::new();
    // id -> position of its first occurrence
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(categories.len());
    let mut reported = HashSet::new();
    for (i, c) in categories.iter().enumerate() {
        let first = *index.entry(c.id.as_str()).or_insert(i);
        if first != i && reported.insert(c.id.as_str()) {
            warnings.push(CategoryWarning::DuplicateId { id: c.id.clone() });
        }
    }
    let parent_of = |i: usize| -> Option<usize> {
        let parent = categories[i].parent_id.as_deref()?;
        index.get(parent).copied()
    };

    for c in categories {
        if let Some(parent) = c.parent_id.as_deref()
            && !index.contains_key(parent)
        {
            warnings.push(CategoryWarning::UnknownParent {
                id: c.id.clone(),
                parent_id: parent.to_string(),
            });
        }
    }

    // Walk each chain upwards once; `state` marks categories on the current walk (1) and
    // those already known to end at a root or a reported cycle (2).
    let mut state = vec![0u8; categories.len()];
    for start in 0..categories.len() {
        let mut path = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match state[i] {
                0 => {
                    state[i] = 1;
                    path.push(i);
                    at = parent_of(i);
                }
                1 => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    warnings.push(CategoryWarning::Cycle {
                        ids: path[from..]
                            .iter()
                            .map(|&p| categories[p].id.clone())
                            .collect(),
                    });
                    break;
                }
                _ => break,
            }
        }
        for p in path {
            state[p] = 2;
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: &str, parent: Option<&str>) -> Category {
        Category {
            id: id.into(),
            parent_id: parent.map(Into::into),
            name: format!("Категория {id}"),
        }
    }

    #[test]
    fn accepts_a_proper_tree() {
        let cats = [cat("1", None), cat("2", Some("1")), cat("3", Some("2"))];
        assert_eq!(check_category_tree(&cats), vec![]);
    }

    #[test]
    fn reports_unknown_parents_duplicates_and_each_cycle_once() {
        let cats = [
            cat("1", None),
            cat("2", Some("9")),
            cat("3", Some("4")),
            cat("4", Some("5")),
            cat("5", Some("3")),
            cat("6", Some("6")),
            cat("1", None),
            cat("7", Some("3")),
        ];
        let warnings = check_category_tree(&cats);
        assert_eq!(
            warnings,
            vec![
                CategoryWarning::DuplicateId { id: "1".into() },
                CategoryWarning::UnknownParent {
                    id: "2".into(),
                    parent_id: "9".into()
                },
                CategoryWarning::Cycle {
                    ids: vec!["3".into(), "4".into(), "5".into()]
                },
                CategoryWarning::Cycle {
                    ids: vec!["6".into()]
                },
            ]
        );
        assert!(warnings[2].to_string().contains("\"3\" → \"4\" → \"5\""));
    }
}
