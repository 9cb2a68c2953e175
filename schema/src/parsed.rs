//! Documents parsed once: the parse of a document that passed the limits, kept by its text.
//!
//! Frontends and partners send the same few documents again and again (a page's query, a
//! feed's): parsing one took 3.3% of the server's time under the nested query at 50 clients,
//! more than anything Passerelle does itself. A kept document is cloned into its request
//! (async-graphql runs an owned document) and shared, as is, with the checks and the response's
//! shaping.
//!
//! Only documents that parsed and passed the limits for their caller are kept, so a refused
//! document never takes a place. At most [`MAX_DOCUMENTS`] documents and [`MAX_TEXT_BYTES`] of
//! their text are kept; a full cache drops the least recently used. Every request still runs
//! the limits (which depend on its variables and its caller). The validation against the
//! schema runs again too, unless the document declares no variable and passed it once
//! ([`Parse::validated`]): its answer then depends on the document and the schema alone, as
//! GraphQL routers (Apollo's, Hive's) keep it; the checks that bound what a request costs
//! (depth, complexity) run every time all the same.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::parser::types::ExecutableDocument;
use passerelle_entities::access::Kind;

use crate::guard;
use crate::limits::CostModel;

/// The most documents kept.
pub const MAX_DOCUMENTS: usize = 512;
/// The most bytes of document text kept.
pub const MAX_TEXT_BYTES: usize = 512 << 10;

/// Parsed documents by their text (see the module).
#[derive(Default)]
pub(crate) struct ParsedDocuments {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    documents: HashMap<Arc<str>, Entry>,
    text_bytes: usize,
    /// Moves at every use: an entry's last use orders the evictions.
    clock: u64,
}

struct Entry {
    parse: Arc<Parse>,
    last_used: u64,
}

/// A document's parse, and what its validation said.
pub(crate) struct Parse {
    pub(crate) document: Arc<ExecutableDocument>,
    /// No operation of the document declares a variable.
    constant: bool,
    passed: AtomicBool,
    /// Whether each kind of viewer runs the document under the guard ([`Parse::needs_guard`]),
    /// by the kind's place in [`Kind::ALL`], known once asked.
    guarded: [OnceLock<bool>; Kind::ALL.len()],
}

impl Parse {
    pub(crate) fn new(document: Arc<ExecutableDocument>) -> Arc<Parse> {
        let constant = document
            .operations
            .iter()
            .all(|(_, op)| op.node.variable_definitions.is_empty());
        Arc::new(Parse {
            document,
            constant,
            passed: AtomicBool::new(false),
            guarded: Default::default(),
        })
    }

    /// [`guard::needs_guard`] for the document and `kind`, worked out the first time a viewer
    /// of that kind sends it: its answer depends on the document, the kind and the schema alone
    /// (0.9% of a nested request's instructions, walking the document every time).
    pub(crate) fn needs_guard(&self, model: &CostModel, kind: Kind) -> bool {
        let walk = || guard::needs_guard(model, &self.document, kind);
        match Kind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|at| self.guarded.get(at))
        {
            Some(known) => *known.get_or_init(walk),
            None => walk(),
        }
    }

    /// Whether validating the document again would only repeat an answer already known to be
    /// "valid": it has no variables (whose values the validation checks) and passed once.
    pub(crate) fn validated(&self) -> bool {
        self.constant && self.passed.load(Ordering::Relaxed)
    }

    /// The document was run and its validation found nothing wrong.
    pub(crate) fn passed_validation(&self) {
        self.passed.store(true, Ordering::Relaxed);
    }
}

impl ParsedDocuments {
    /// The kept parse of `text`, if any.
    pub(crate) fn get(&self, text: &str) -> Option<Arc<Parse>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.clock += 1;
        let now = kept.clock;
        let entry = kept.documents.get_mut(text)?;
        entry.last_used = now;
        Some(entry.parse.clone())
    }

    /// Keeps the parse of `text`, dropping the least recently used documents to make room. A
    /// text over a quarter of [`MAX_TEXT_BYTES`] is not kept.
    pub(crate) fn keep(&self, text: &str, parse: Arc<Parse>) {
        if text.len() > MAX_TEXT_BYTES / 4 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.documents.contains_key(text) {
            return;
        }
        while !kept.documents.is_empty()
            && (kept.documents.len() >= MAX_DOCUMENTS
                || kept.text_bytes + text.len() > MAX_TEXT_BYTES)
        {
            let Some(oldest) = kept
                .documents
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(t, _)| t.clone())
            else {
                break;
            };
            kept.documents.remove(&oldest);
            kept.text_bytes -= oldest.len();
        }
        kept.clock += 1;
        let last_used = kept.clock;
        kept.text_bytes += text.len();
        kept.documents
            .insert(Arc::from(text), Entry { parse, last_used });
    }

    /// How many documents are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .documents
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn parsed(text: &str) -> Arc<Parse> {
        Parse::new(Arc::new(parse_query(text).expect("a valid document")))
    }

    #[test]
    fn only_a_document_without_variables_that_passed_counts_as_validated() {
        let constant = parsed("query A { a } query B { b(x: 1) }");
        let variable = parsed("query A { a } query B($x: Int) { b(x: $x) }");
        for parse in [&constant, &variable] {
            assert!(!parse.validated(), "not before it passed");
        }
        constant.passed_validation();
        variable.passed_validation();
        assert!(constant.validated());
        assert!(
            !variable.validated(),
            "its variables' values are checked every time"
        );
    }

    #[test]
    fn a_kept_document_is_found_by_its_text_only() {
        let cache = ParsedDocuments::default();
        cache.keep("{ a }", parsed("{ a }"));
        assert!(cache.get("{ a }").is_some());
        assert!(cache.get("{ a  }").is_none());
        assert!(cache.get("{ b }").is_none());
    }

    #[test]
    fn a_full_cache_drops_the_least_recently_used() {
        let cache = ParsedDocuments::default();
        let text = |i: usize| format!("{{ f{i} }}");
        for i in 0..MAX_DOCUMENTS {
            cache.keep(&text(i), parsed(&text(i)));
        }
        // The first one is used again: the second is now the least recently used.
        assert!(cache.get(&text(0)).is_some());
        cache.keep(&text(MAX_DOCUMENTS), parsed(&text(MAX_DOCUMENTS)));
        assert_eq!(cache.len(), MAX_DOCUMENTS);
        assert!(cache.get(&text(0)).is_some());
        assert!(cache.get(&text(1)).is_none());
        assert!(cache.get(&text(MAX_DOCUMENTS)).is_some());
    }

    #[test]
    fn the_text_kept_is_bounded() {
        let cache = ParsedDocuments::default();
        // Each document a little over a sixteenth of the bound: at most fifteen fit.
        let long = |i: usize| format!("{{ f{i} {} }}", "x ".repeat(MAX_TEXT_BYTES / 32));
        for i in 0..40 {
            cache.keep(&long(i), parsed(&long(i)));
        }
        assert_eq!(cache.len(), 15);
        assert!(cache.get(&long(39)).is_some());
        assert!(cache.get(&long(0)).is_none());
        // Over a quarter of the bound: never kept.
        let huge = format!("{{ g {} }}", "y ".repeat(MAX_TEXT_BYTES / 7));
        cache.keep(&huge, parsed(&huge));
        assert!(cache.get(&huge).is_none());
    }
}
